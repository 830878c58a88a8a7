"""The steal-the-NIC (STN) daemon and its client, for nodes whose only NIC VPP must own.

``daemon`` serves Contiv's STN gRPC API (``contivpp stn``), ``nic`` records / takes / restores
a NIC over netlink, ``state`` persists what was stolen, ``client`` is the agent's side.
"""
