"""Chassis_Private registration and the liveness heartbeat (agent-contract.md sections 1, 8).

ovnmeta stands in for one of two upstream agents, and neutron-server tells them apart only by
the keys they write in `Chassis_Private.external_ids` (neutron's `common/ovn/constants.py`):

- `neutron-ovn-metadata-agent`, listed as "OVN Metadata agent": id in
  `neutron:ovn-metadata-id` (uuid5 of the chassis uuid, 'metadata_agent'), heartbeat in
  `neutron:ovn-metadata-sb-cfg`;
- `neutron-ovn-agent` with `[agent] extensions = metadata`, listed as "OVN Neutron agent":
  id in `neutron:ovn-neutron-agent-id` (uuid5 of its chassis uuid, 'ovn_agent'), heartbeat
  in `neutron:ovn-neutron-agent-sb-cfg`.

Both write `neutron:ovn-bridge`. Each removes the other's keys at registration (upstream's
neutron-ovn-agent does the same to the metadata agent's), so switching a chassis from one
role to the other leaves no stale key, and neutron lists exactly one agent for it.

Pure: ids are derived from the system-id; the heartbeat policy is a small value object fed
with nb_cfg values, times and a jitter source, so tests need no clock and no randomness.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ovnmeta.agent.settings import NEUTRON_METADATA_AGENT, NEUTRON_OVN_AGENT

# The namespaces each upstream agent derives a chassis uuid in when the system-id is no uuid.
CHASSIS_NAMESPACE = uuid.UUID("d34bf9f6-da32-4871-9af8-15a4626b41ab")
OVN_AGENT_CHASSIS_NAMESPACE = uuid.UUID("fd7e0970-7164-11ed-80f0-00000003158a")

KEY_AGENT_ID = "neutron:ovn-metadata-id"
KEY_BRIDGE = "neutron:ovn-bridge"
KEY_SB_CFG = "neutron:ovn-metadata-sb-cfg"
KEY_DESCRIPTION = "neutron:description-metadata"
KEY_OVN_AGENT_ID = "neutron:ovn-neutron-agent-id"
KEY_OVN_AGENT_SB_CFG = "neutron:ovn-neutron-agent-sb-cfg"
KEY_OVN_AGENT_DESCRIPTION = "neutron:description-neutron-agent"


@dataclass(frozen=True)
class Role:
    binary: str  # what neutron lists as the agent's binary
    agent_type: str  # ... and as its agent_type
    id_key: str
    sb_cfg_key: str
    id_name: str  # uuid5(chassis uuid, id_name) is the agent id
    namespace: uuid.UUID
    foreign_keys: tuple[str, ...]  # the other role's keys, removed at registration

    def chassis_uuid(self, system_id: str) -> uuid.UUID:
        try:
            return uuid.UUID(system_id)
        except ValueError:
            return uuid.uuid5(self.namespace, system_id)

    def agent_id(self, system_id: str) -> str:
        return str(uuid.uuid5(self.chassis_uuid(system_id), self.id_name))


METADATA_AGENT = Role(
    binary=NEUTRON_METADATA_AGENT,
    agent_type="OVN Metadata agent",
    id_key=KEY_AGENT_ID,
    sb_cfg_key=KEY_SB_CFG,
    id_name="metadata_agent",
    namespace=CHASSIS_NAMESPACE,
    foreign_keys=(KEY_OVN_AGENT_SB_CFG, KEY_OVN_AGENT_DESCRIPTION, KEY_OVN_AGENT_ID),
)
OVN_AGENT = Role(
    binary=NEUTRON_OVN_AGENT,
    agent_type="OVN Neutron agent",
    id_key=KEY_OVN_AGENT_ID,
    sb_cfg_key=KEY_OVN_AGENT_SB_CFG,
    id_name="ovn_agent",
    namespace=OVN_AGENT_CHASSIS_NAMESPACE,
    foreign_keys=(KEY_SB_CFG, KEY_DESCRIPTION, KEY_AGENT_ID),
)
ROLES = {r.binary: r for r in (METADATA_AGENT, OVN_AGENT)}
FOREIGN_KEYS = METADATA_AGENT.foreign_keys


def role_for(binary: str) -> Role:
    return ROLES[binary]


def chassis_uuid(system_id: str) -> uuid.UUID:
    return METADATA_AGENT.chassis_uuid(system_id)


def agent_id(system_id: str) -> str:
    return METADATA_AGENT.agent_id(system_id)


def max_jitter_s(agent_down_time: int) -> float:
    """The longest heartbeat delay our own agent_down_time allows: upstream's
    `max(min(agent_down_time // 3, 10), 3)`, but never more than half of the server's bump
    interval for that agent_down_time (`max(agent_down_time // 2, 1)`), which upstream's
    floor of 3 exceeds below agent_down_time 12."""
    upstream = max(min(agent_down_time // 3, 10), 3)
    return min(float(upstream), max(agent_down_time // 2, 1) / 2)


@dataclass
class Heartbeat:
    """Decides when to write the sb-cfg key: never twice for one value, the first write at
    once, later ones after a random delay so chassis do not write together, and never so late
    that neutron-server could see the agent dead while it runs (docs/agent.md, "Liveness").

    neutron bumps nb_cfg at most every `max(agent_down_time // 2, 1)` s of *its* option and
    calls an agent dead when it is 2 values behind and its last write is older than
    `agent_down_time`; so a write must land before the next bump. The delay is therefore at
    most half the shortest interval seen between two nb_cfg values (and upstream's bound),
    zero until one interval has been seen, and a value that arrives while a write is still
    waiting is written at once."""

    jitter: Callable[[float], float]  # a random delay in [0, limit], e.g. random.uniform(0, .)
    max_jitter: float  # max_jitter_s(our agent_down_time)
    written: int | None = None
    target: int | None = None
    seen_at: float | None = None  # when the last new value was observed
    shortest: float | None = None  # the shortest interval seen between two new values

    def observe(self, nb_cfg: int, now: float) -> float | None:
        """A new nb_cfg was seen at `now`: the delay before writing, or None if nothing to
        write now (unchanged, or the write already scheduled takes the latest value)."""
        if nb_cfg == self.written or nb_cfg == self.target:
            return None
        if self.seen_at is not None:
            gap = now - self.seen_at
            self.shortest = gap if self.shortest is None else min(self.shortest, gap)
        self.seen_at = now
        pending, first = self.target is not None, self.written is None
        self.target = nb_cfg
        if pending:
            return 0.0  # already a bump behind: catch up now (the waiting write finds nothing)
        return 0.0 if first else self.jitter(self.limit())

    def limit(self) -> float:
        if self.shortest is None:
            return 0.0
        return min(self.max_jitter, self.shortest / 2)

    def due(self) -> int | None:
        """The value to write now (the latest seen), or None if it was written meanwhile."""
        if self.target is None or self.target == self.written:
            return None
        return self.target

    def done(self, value: int) -> None:
        self.written = value
        if self.target == value:
            self.target = None
