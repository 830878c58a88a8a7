"""``contivpp netctl``: the operator's view of a contivpp cluster, like Contiv's contiv-netctl.

It reads two sources and nothing else: etcd (node-ID records, the Kubernetes objects the KSR
reflects) and the agents' HTTP APIs (what each node wired and did). :mod:`.sources` reaches
them, :mod:`.commands` turns answers into tables for people and JSON for scripts.
"""
