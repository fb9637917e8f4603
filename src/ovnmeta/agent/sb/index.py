"""The local view of the SB, kept current by changes; answers provisioning and lookup in O(1).

`apply(change)` returns the networks whose inputs changed (a port that is or was local, the
metadata port, the datapath name), so the scheduler reconciles only those. Lookup
(`ports_by_ip`, `ports_by_mac`) satisfies `proxy.lookup.PortIndex`.
"""

from __future__ import annotations

from collections import defaultdict

from ovnmeta.agent.sb import changes, interest
from ovnmeta.core.model import ChassisId, DatapathId, MetadataPort, NetworkId, Vif


class Index:
    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.own_chassis: ChassisId | None = None
        self._vifs: dict[str, Vif] = {}
        self._meta: dict[str, MetadataPort] = {}
        self._dp_network: dict[DatapathId, NetworkId] = {}
        self._network_dp: dict[NetworkId, DatapathId] = {}
        self._vifs_by_dp: dict[DatapathId | None, set[str]] = defaultdict(set)
        self._meta_by_dp: dict[DatapathId | None, set[str]] = defaultdict(set)
        self._by_ip: dict[tuple[DatapathId | None, str], set[str]] = defaultdict(set)
        self._by_mac: dict[tuple[DatapathId | None, str], set[str]] = defaultdict(set)

    # -- changes -------------------------------------------------------------------------

    def apply(self, change: changes.Change) -> frozenset[NetworkId]:
        match change:
            case changes.PortUpdated(uuid=uuid, port=port):
                before = self._touched_by(uuid)
                self._remove_port(uuid)
                if port is not None:
                    self._add_port(port)
                return before | self._touched_by(uuid)
            case changes.PortDeleted(uuid=uuid):
                before = self._touched_by(uuid)
                self._remove_port(uuid)
                return before
            case changes.DatapathUpdated(datapath=dp):
                old = self._dp_network.pop(dp.uuid, None)
                if old is not None and self._network_dp.get(old) == dp.uuid:
                    del self._network_dp[old]
                if dp.network is not None:
                    self._dp_network[dp.uuid] = dp.network
                    self._network_dp[dp.network] = dp.uuid
                return frozenset(n for n in (old, dp.network) if n is not None)
            case changes.DatapathDeleted(uuid=uuid):
                old = self._dp_network.pop(DatapathId(uuid), None)
                if old is None:
                    return frozenset()
                if self._network_dp.get(old) == uuid:
                    del self._network_dp[old]
                return frozenset({old})
            case changes.Snapshot():
                before = self.networks()
                self._reset()
                self.own_chassis = change.chassis
                for dp in change.datapaths:
                    self.apply(changes.DatapathUpdated(dp))
                for _uuid, port in change.ports:
                    if port is not None:
                        self._add_port(port)
                return before | self.networks()
            case changes.ChassisFound(uuid=uuid):
                if uuid == self.own_chassis:
                    return frozenset()
                self.own_chassis = uuid
                return frozenset(self._network_dp)
        return frozenset()

    def _touched_by(self, uuid: str) -> frozenset[NetworkId]:
        """A VIF matters while it is local; the metadata port always matters."""
        port: Vif | MetadataPort | None = self._vifs.get(uuid) or self._meta.get(uuid)
        if port is None:
            return frozenset()
        if isinstance(port, Vif) and not port.is_local(self.own_chassis):
            return frozenset()
        net = self._dp_network.get(port.datapath) if port.datapath else None
        return frozenset({net}) if net else frozenset()

    def _add_port(self, port: Vif | MetadataPort) -> None:
        if isinstance(port, MetadataPort):
            self._meta[port.uuid] = port
            self._meta_by_dp[port.datapath].add(port.uuid)
            return
        self._vifs[port.uuid] = port
        self._vifs_by_dp[port.datapath].add(port.uuid)
        if port.mac is None:
            return
        self._by_mac[(port.datapath, port.mac)].add(port.uuid)
        for ip in port.ips:
            self._by_ip[(port.datapath, ip)].add(port.uuid)

    def _remove_port(self, uuid: str) -> None:
        if (meta := self._meta.pop(uuid, None)) is not None:
            _discard(self._meta_by_dp, meta.datapath, uuid)
        if (vif := self._vifs.pop(uuid, None)) is not None:
            _discard(self._vifs_by_dp, vif.datapath, uuid)
            if vif.mac is not None:
                _discard(self._by_mac, (vif.datapath, vif.mac), uuid)
                for ip in vif.ips:
                    _discard(self._by_ip, (vif.datapath, ip), uuid)

    # -- queries ---------------------------------------------------------------------------

    def networks(self) -> frozenset[NetworkId]:
        return frozenset(self._network_dp)

    def condition_datapaths(self) -> frozenset[DatapathId]:
        """The datapaths the SB condition must hold for this index (`sb.interest`)."""
        return interest.wanted(self._vifs.values(), self.own_chassis)

    def size(self) -> dict[str, int]:
        """What this chassis holds of the SB: it grows with local networks only (issue 14)."""
        return {
            "ports": len(self._vifs) + len(self._meta),
            "datapaths": len(self._dp_network),
        }

    def local_networks(self) -> frozenset[NetworkId]:
        """Networks with at least one local VIF (whether or not it has addresses)."""
        own = self.own_chassis
        return frozenset(
            net
            for net, dp in self._network_dp.items()
            if any(self._vifs[u].is_local(own) for u in self._vifs_by_dp.get(dp, ()))
        )

    def local_vifs(self, network: NetworkId) -> tuple[Vif, ...]:
        dp = self._network_dp.get(network)
        if dp is None:
            return ()
        own = self.own_chassis
        vifs = (self._vifs[u] for u in sorted(self._vifs_by_dp.get(dp, ())))
        return tuple(v for v in vifs if v.is_local(own))

    def metadata_port(self, network: NetworkId) -> MetadataPort | None:
        """The metadata port; with duplicates (a northd race), the lowest UUID wins, stably."""
        dp = self._network_dp.get(network)
        uuids = self._meta_by_dp.get(dp, ()) if dp is not None else ()
        return self._meta[min(uuids)] if uuids else None

    def ports_by_ip(self, network: NetworkId, ip: str) -> tuple[Vif, ...]:
        return self._local_matches(network, self._by_ip, ip)

    def ports_by_mac(self, network: NetworkId, mac: str) -> tuple[Vif, ...]:
        return self._local_matches(network, self._by_mac, mac.lower())

    def _local_matches(
        self,
        network: NetworkId,
        table: dict[tuple[DatapathId | None, str], set[str]],
        key: str,
    ) -> tuple[Vif, ...]:
        # Only bound-here ports: a localport delivers only to ports on this chassis, so every
        # request reaching our namespaces comes from one (agent-contract.md section 3.1), and
        # an unbound stale port (upstream's `chassis != []` rule) is excluded too.
        dp = self._network_dp.get(network)
        if dp is None:
            return ()
        uuids = table.get((dp, key))
        if not uuids:
            return ()
        own = self.own_chassis
        return tuple(self._vifs[u] for u in sorted(uuids) if self._vifs[u].is_local(own))


def _discard(table: dict, key: object, uuid: str) -> None:
    bucket = table.get(key)
    if bucket is not None:
        bucket.discard(uuid)
        if not bucket:
            del table[key]
