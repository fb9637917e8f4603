"""The SB conditions of the last run, kept so that a restart asks for them in its first monitor
request (issue 14): one round trip instead of three (chassis -> ports bound here -> their
datapaths' localports and rows).

It only says what to ask the SB for, never what to serve: the index is built from the rows the
SB sends once the conditions computed from those rows themselves (this chassis's UUID as the SB
has it, the datapaths of the VIFs bound to it) are acked (`sb.client`). A stale hint (a network
gone, a chassis re-created) costs the condition rounds it would have saved, nothing else; a
datapath in it with no VIF bound here leaves the condition before the snapshot.

Pure apart from `load` and `save`; anything unreadable or malformed is no hint.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from ovnmeta.core.model import DatapathId

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True, slots=True)
class ConditionHint:
    chassis: str | None
    datapaths: frozenset[DatapathId]


def parse(text: str) -> ConditionHint | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    chassis, dps = data.get("chassis"), data.get("datapaths")
    if chassis is not None and not (isinstance(chassis, str) and _UUID.match(chassis)):
        return None
    if not isinstance(dps, list) or not all(isinstance(d, str) and _UUID.match(d) for d in dps):
        return None
    return ConditionHint(chassis, frozenset(DatapathId(d) for d in dps))


def render(hint: ConditionHint) -> str:
    return json.dumps({"chassis": hint.chassis, "datapaths": sorted(hint.datapaths)})


def load(path: str) -> ConditionHint | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return parse(fh.read())
    except OSError:
        return None


def save(path: str, hint: ConditionHint) -> None:
    """Atomically (a crash leaves the old file or the new one); errors are the caller's."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(render(hint))
    os.replace(tmp, path)
