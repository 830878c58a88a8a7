"""Value types of the desired state and the one module that builds keys.

Renderers produce these values, the reconciler stores and compares them, VPP and Linux
descriptors apply them. Keeping them in their own package lets renderers and descriptors share
them without importing each other.
"""
