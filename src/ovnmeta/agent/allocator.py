"""glibc's malloc, set for a long-running agent (ctypes; nothing happens where libc is not glibc).

Two arenas: glibc gives each thread that allocates its own arena, and the agent's worker
threads (netlink, OVSDB) would each keep megabytes resident.

A trim after each full sync: the SB snapshot and the local OVSDB's dump are parsed into many
short-lived objects, and a full sync observes every namespace; freed, they leave free pages
inside malloc's heap that glibc only returns at its top. `malloc_trim(0)` gives every whole
free page back (madvise), 0.5 ms at 1,000 networks, 3.4 MB of the agent's RSS in a fresh
agent at 1,000 networks (docs/agent.md, "The agent's memory at 1,000 networks"). And one
once a burst of host changes is over (reconciler.QUIET_AFTER_CHANGES_S): an agent that had
provisioned 300 networks went 68.2 -> 65.7 MB, the RSS of one restarted at that count.
Python's own small objects live in pymalloc's arenas, not malloc's heap: a trim does not
touch them.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools

M_ARENA_MAX = -8  # glibc's malloc.h


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def limit_arenas(arenas: int = 2) -> None:
    """Before any thread starts (mallopt applies to arenas created after it)."""
    libc = _libc()
    with contextlib.suppress(AttributeError):
        if libc is not None:
            libc.mallopt(M_ARENA_MAX, arenas)


def trim() -> None:
    libc = _libc()
    with contextlib.suppress(AttributeError):
        if libc is not None:
            libc.malloc_trim(0)
