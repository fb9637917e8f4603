"""ovnmeta: the metadata service for OVN-based clouds."""

__version__ = "0.1.0"
