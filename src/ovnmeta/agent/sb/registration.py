"""Chassis_Private registration and the liveness heartbeat (agent-contract.md sections 1, 8).

Pure: ids are derived from the system-id; the heartbeat policy is a small value object fed
with nb_cfg values and a jitter source, so tests need no clock and no randomness.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

CHASSIS_NAMESPACE = uuid.UUID("d34bf9f6-da32-4871-9af8-15a4626b41ab")

KEY_AGENT_ID = "neutron:ovn-metadata-id"
KEY_BRIDGE = "neutron:ovn-bridge"
KEY_SB_CFG = "neutron:ovn-metadata-sb-cfg"
FOREIGN_KEYS = (
    "neutron:ovn-neutron-agent-sb-cfg",
    "neutron:description-neutron-agent",
    "neutron:ovn-neutron-agent-id",
)


def chassis_uuid(system_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(system_id)
    except ValueError:
        return uuid.uuid5(CHASSIS_NAMESPACE, system_id)


def agent_id(system_id: str) -> str:
    return str(uuid.uuid5(chassis_uuid(system_id), "metadata_agent"))


def max_jitter_s(agent_down_time: int) -> int:
    return max(min(agent_down_time // 3, 10), 3)


@dataclass
class Heartbeat:
    """Decides when to write `neutron:ovn-metadata-sb-cfg`: never twice for one value, the
    first write at once, later ones after a random delay so chassis do not write together."""

    jitter: Callable[[], float]  # seconds, e.g. lambda: random.randint(0, max_jitter_s(...))
    written: int | None = None
    target: int | None = None

    def observe(self, nb_cfg: int) -> float | None:
        """A new nb_cfg was seen: the delay before writing, or None if nothing to write."""
        if nb_cfg == self.written or nb_cfg == self.target:
            return None
        pending, first = self.target is not None, self.written is None
        self.target = nb_cfg
        if pending:
            return None  # the write already scheduled will take the latest value
        return 0.0 if first else self.jitter()

    def due(self) -> int | None:
        """The value to write now (the latest seen), or None if it was written meanwhile."""
        if self.target is None or self.target == self.written:
            return None
        return self.target

    def done(self, value: int) -> None:
        self.written = value
        if self.target == value:
            self.target = None
