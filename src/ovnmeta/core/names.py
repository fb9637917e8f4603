"""Host object names: part of the contract (agent-contract.md section 2), so built only here.

namespace(net) == "ovnmeta-" + net  # net = "f3dc8112-273e-4653-af3c-6069330ad350"
veth_pair(net) == ("tapf3dc8112-20", "tapf3dc8112-21")
"""

from __future__ import annotations

import hashlib

from ovnmeta.core.model import NetworkId

NAMESPACE_PREFIX = "ovnmeta-"
VETH_PREFIX = "tap"


def namespace(network: NetworkId) -> str:
    return f"{NAMESPACE_PREFIX}{network}"


def network_of_namespace(name: str) -> NetworkId | None:
    if name.startswith(NAMESPACE_PREFIX) and len(name) > len(NAMESPACE_PREFIX):
        return NetworkId(name[len(NAMESPACE_PREFIX) :])
    return None


def network_of_datapath_name(name: str) -> NetworkId | None:
    """`Datapath_Binding.external_ids:name` is `neutron-<uuid>`; strip the first prefix only."""
    if name.startswith("neutron-") and len(name) > len("neutron-"):
        return NetworkId(name[len("neutron-") :])
    return None


def veth_pair(network: NetworkId, alternate: bool = False) -> tuple[str, str]:
    """(root end, namespace end). The alternate stem never contains a dash, so it can never equal
    the standard stem of another network (a UUID has a dash at position 8)."""
    stem = hashlib.sha256(network.encode()).hexdigest()[:10] if alternate else network[:10]
    return f"{VETH_PREFIX}{stem}0", f"{VETH_PREFIX}{stem}1"


def outer_of_inner(inner: str) -> str:
    return inner[:-1] + "0"


class VethNamer:
    """Resolves the 10-character clash: the first network to claim a stem keeps the standard
    name, later ones get the alternate. Claims are seeded from what is on the host at start, so
    a restart never renames an existing veth."""

    def __init__(self) -> None:
        self._owner: dict[str, NetworkId] = {}

    def adopt(self, network: NetworkId, inner_name: str) -> None:
        if inner_name == veth_pair(network)[1]:
            self._owner.setdefault(network[:10], network)

    def pair(self, network: NetworkId) -> tuple[str, str]:
        owner = self._owner.setdefault(network[:10], network)
        return veth_pair(network, alternate=owner != network)

    def release(self, network: NetworkId) -> None:
        if self._owner.get(network[:10]) == network:
            del self._owner[network[:10]]
