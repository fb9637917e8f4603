"""What happened in the SB, as values (past tense). Produced by `sb/events.py`, consumed by
`sb/index.py` (ports, datapaths) and the agent (registration, heartbeat, resync)."""

from __future__ import annotations

from dataclasses import dataclass

from ovnmeta.core.model import ChassisId, Datapath, MetadataPort, Vif


@dataclass(frozen=True, slots=True)
class PortUpdated:
    """A Port_Binding was inserted or changed; `port` is None for types we ignore."""

    uuid: str
    port: Vif | MetadataPort | None


@dataclass(frozen=True, slots=True)
class PortDeleted:
    uuid: str


@dataclass(frozen=True, slots=True)
class DatapathUpdated:
    datapath: Datapath


@dataclass(frozen=True, slots=True)
class DatapathDeleted:
    uuid: str


@dataclass(frozen=True, slots=True)
class ChassisFound:
    """Our own Chassis row is known (its UUID is what Port_Binding.chassis references)."""

    uuid: ChassisId | None


@dataclass(frozen=True, slots=True)
class ChassisPrivateCreated:
    nb_cfg: int


@dataclass(frozen=True, slots=True)
class NbCfgChanged:
    """SB_Global.nb_cfg moved (the neutron-server liveness ping)."""

    nb_cfg: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The SB connection (re)delivered its whole monitored content: replace the index and run
    a full sync. Rows that vanished while disconnected are simply absent here."""

    chassis: ChassisId | None
    ports: tuple[tuple[str, Vif | MetadataPort | None], ...]
    datapaths: tuple[Datapath, ...]
    nb_cfg: int | None  # SB_Global
    chassis_private_nb_cfg: int | None  # None: our Chassis_Private row does not exist yet
    reconnect: bool


@dataclass(frozen=True, slots=True)
class Disconnected:
    pass


Change = (
    PortUpdated
    | PortDeleted
    | DatapathUpdated
    | DatapathDeleted
    | ChassisFound
    | ChassisPrivateCreated
    | NbCfgChanged
    | Snapshot
    | Disconnected
)
