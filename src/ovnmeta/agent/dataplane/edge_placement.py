"""Which edge shard serves which network (pure; dataplane/edge_shards.py carries it out).

Two haproxies share the networks: `main` holds most of them and is reloaded rarely; `young`
takes every new or changed network, so the reload that a new network waits for re-parses a
few frontends, not all of them (haproxy 2.6 cannot add a frontend or a bind without a reload:
its runtime API adds servers, map and ACL entries only). Once `young` has been quiet for a
while, or grew large, its networks are merged into `main` in the background: `main` is
reloaded with them first, and only once it listens does `young` let them go.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ovnmeta.agent.dataplane.haproxy_conf import Frontend
from ovnmeta.core.model import NetworkId

Frontends = Mapping[NetworkId, Frontend]

YOUNG = "young-"  # the young shard's file prefix in the edge state dir; main has none
SHARDS = ("", YOUNG)  # main, young


def pidfile_name(shard: str) -> str:
    """A shard's haproxy pid file in the edge state dir (haproxy.py writes it; cleanup reads it)."""
    return f"{shard}haproxy.pid"


def config_name(shard: str) -> str:
    """A shard's haproxy config in the edge state dir: every process of that shard, the
    current one and an older one finishing its connections after a reload, runs `-f` it."""
    return f"{shard}haproxy.cfg"


def networks_name(shard: str) -> str:
    """The networks a shard serves, as haproxy.py last applied them (adoption reads it)."""
    return f"{shard}networks.json"


# Merge young into main once it holds this many, even while it keeps changing: on a busy
# host a reload's cost grows with its frontends well before 64 (bench/edge_bench.py).
YOUNG_MAX = 16
MERGE_IDLE_S = 1.0  # young unchanged this long: merge it into main


@dataclass(frozen=True, slots=True)
class Placement:
    main: dict[NetworkId, Frontend]
    young: dict[NetworkId, Frontend]


def place(main: Frontends, young: Frontends, wanted: Frontends) -> Placement:
    """Serve exactly `wanted`: main keeps what it serves unchanged, everything else is (or
    goes to) young; main only ever loses networks here, it gains them in `merged`."""
    del young  # where a wanted network is now does not matter: not in main -> young
    keep = {n: fe for n, fe in main.items() if wanted.get(n) == fe}
    return Placement(keep, {n: fe for n, fe in wanted.items() if n not in keep})


def merged(main: Frontends, young: Frontends, wanted: Frontends) -> dict[NetworkId, Frontend]:
    """Main after a merge: all of young that is still wanted as it is, plus main's own."""
    both = {**main, **young}
    return {n: fe for n, fe in both.items() if wanted.get(n) == fe}


def merge_due(young_size: int, quiet_s: float) -> bool:
    return young_size >= YOUNG_MAX or (young_size > 0 and quiet_s >= MERGE_IDLE_S)
