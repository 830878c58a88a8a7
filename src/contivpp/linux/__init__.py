"""Linux-side configuration of pods and the host (pyroute2)."""
