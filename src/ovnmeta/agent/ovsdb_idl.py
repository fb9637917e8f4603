"""The IDL class both OVSDB connections of the agent use (SB and local Open_vSwitch).

ovsdbapp's `OvsdbIdl.cooperative_yield` is `time.sleep(0)`, and python-ovs calls it after
every row it parses (for eventlet's green threads). In real threads it releases the GIL each
time and waits to get it back from whichever thread runs meanwhile: a restart at 1,000
networks parses ~2,000 SB rows and ~4,000 local ones, and measured with cProfile those
yields were 4.7 s of the start's wall time. The interpreter already switches threads every
`sys.getswitchinterval()` (5 ms) while one holds the GIL, so a yield at most every
YIELD_EVERY_S keeps the event loop's share and drops the per-row cost.
"""

from __future__ import annotations

import time

from ovsdbapp.backend.ovs_idl import connection

YIELD_EVERY_S = 0.005


class Idl(connection.OvsdbIdl):
    _next_yield = 0.0

    def cooperative_yield(self) -> None:
        now = time.monotonic()
        if now >= self._next_yield:
            self._next_yield = now + YIELD_EVERY_S
            time.sleep(0)
