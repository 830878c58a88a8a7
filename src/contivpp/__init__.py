"""contivpp: the Contiv/VPP Kubernetes network plugin as an asyncio event-sourced control plane.

Inputs (Kubernetes objects, CNI requests, VPP restarts) become typed events; a pure fold turns
them into cluster state; pure renderers turn state into a desired key/value set; the reconciler
makes VPP match it. See docs/architecture.md.
"""

__version__ = "0.1.0"
