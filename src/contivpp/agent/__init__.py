"""The vSwitch agent: wires etcd, CNI, VPP and the reconciler around one event loop."""
