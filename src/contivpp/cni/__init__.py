"""The CNI plugin (executed by kubelet per pod) and the agent's CNI server."""
