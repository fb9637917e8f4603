"""What a lab holds, persisted as JSON in its directory so every `ovnmeta lab` call sees it."""

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ovnmeta.core.errors import LabError

STATE_FILE = "lab.json"


@dataclass
class NetworkRecord:
    name: str
    id: str  # Neutron network uuid; the logical switch is neutron-<id>
    project: str
    cidrs: list[str]
    metadata: bool
    metadata_port: str | None = None  # Neutron port uuid of the localport
    metadata_mac: str | None = None
    dhcp_options: dict[str, str] = field(default_factory=dict)  # IPv4 cidr -> DHCP_Options uuid
    subnet_ids: dict[str, str] = field(default_factory=dict)  # cidr -> neutron subnet (--neutron)

    @property
    def switch(self) -> str:
        return f"neutron-{self.id}"


@dataclass
class InstanceRecord:
    name: str
    id: str  # instance uuid: the port's neutron:device_id
    port: str  # Neutron port uuid = Logical_Switch_Port name = iface-id
    network: str
    compute: str
    project: str
    mac: str
    addresses: list[str]  # fixed IPs in the port's addresses (v4 first)
    netns: str
    vif: str  # the compute-side veth end on br-int
    dhcp: dict[str, str] = field(default_factory=dict)  # what udhcpc received


@dataclass
class LabState:
    prefix: str
    controllers: int
    computes: int
    phase: str = "building"  # building -> up
    sb_relays: int = 0
    ssl: bool = False
    neutron: bool = False  # real neutron (ML2/OVN) writes the NB: `lab up --neutron`
    networks: dict[str, NetworkRecord] = field(default_factory=dict)
    instances: dict[str, InstanceRecord] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "LabState":
        raw = json.loads(text)
        raw["networks"] = {k: NetworkRecord(**v) for k, v in raw.get("networks", {}).items()}
        raw["instances"] = {k: InstanceRecord(**v) for k, v in raw.get("instances", {}).items()}
        return cls(**raw)


def load(lab_dir: Path) -> LabState | None:
    path = lab_dir / STATE_FILE
    try:
        return LabState.from_json(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError) as exc:
        raise LabError(
            f"{path} is unreadable ({exc}); run 'ovnmeta lab down' to clean up"
        ) from None


def save(lab_dir: Path, state: LabState) -> None:
    """Atomic replace, so a crash never leaves half a state file."""
    path = lab_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.to_json())
    os.replace(tmp, path)
