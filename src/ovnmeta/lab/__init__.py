"""The lab: real OVS/OVN daemons on one machine, nodes and instances as network namespaces.

The embedded default behind `ovnmeta lab` and `ovnmeta demo`, and the ground every integration
test stands on. It drives the daemons and ovnmeta's own services as processes.
"""
