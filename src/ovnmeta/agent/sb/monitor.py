"""The monitor requests python-ovs sends, made cheaper for the SB server (pure).

A table whose condition is false (Port_Binding and Datapath_Binding at the first connect,
before this chassis and its datapaths are known: `sb.client`) has no rows to send, but
ovsdb-server still walks every row of it for the initial dump: with the synthetic cloud's
62,000 Port_Bindings that was ~100 ms of the server per agent start (measured against a
standalone server holding the cloud, raw `monitor_cond`: 87-171 ms with the false
conditions, 1-7 ms without those tables). Asking such a table for no initial rows
(`"select"` without `initial`) skips that walk and changes nothing else: rows entering the
condition later still come with the `monitor_cond_change` reply, as inserts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MONITOR_METHODS = frozenset({"monitor_cond", "monitor_cond_since"})
NO_INITIAL = {"initial": False, "insert": True, "delete": True, "modify": True}


def is_false(where: Any) -> bool:
    """A condition no row matches: a non-empty list of `false` clauses only (python-ovs's
    [False]); an absent or empty `where` means every row."""
    return isinstance(where, list) and bool(where) and all(c is False for c in where)


def without_empty_initial(requests: Mapping[str, list[dict]]) -> dict[str, list[dict]]:
    """`requests` (table -> monitor-cond-requests) with `initial` left out of every request
    whose condition is false; the others unchanged."""
    out: dict[str, list[dict]] = {}
    for table, reqs in requests.items():
        out[table] = [
            {**r, "select": dict(NO_INITIAL)}
            if is_false(r.get("where")) and "select" not in r
            else r
            for r in reqs
        ]
    return out
