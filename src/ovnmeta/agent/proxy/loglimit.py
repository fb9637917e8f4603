"""At most one log line per interval per key, for lines a guest can trigger (pure; time passed in).

A guest decides how often the proxy logs "no instance for ..." (or a refused target, a
rejection, a Nova error): one line per request would let it write the agent's journal as fast
as it sends. The shell keys lines by (kind, network, source); the first line of a window is
logged, the rest of the window only counted, and the next logged line carries that count:

    limiter = LogLimiter(60.0)
    limiter.check(("no-instance", net, ip), now)        # 0: log it
    limiter.check(("no-instance", net, ip), now + 1)    # None: suppressed (counted)
    limiter.check(("no-instance", net, ip), now + 61)   # 1: log it, with suffix(1)

The table is bounded: beyond `max_keys` live keys, new keys share one `OVERFLOW` entry, so
a guest cycling through addresses still gets one line per interval, not one per address.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

OVERFLOW = ("overflow",)


@dataclass(slots=True)
class _Window:
    started: float
    suppressed: int


class LogLimiter:
    def __init__(self, interval_s: float, max_keys: int = 4096) -> None:
        self.interval_s = interval_s
        self.max_keys = max_keys
        self._windows: dict[Hashable, _Window] = {}
        self._pruned_at: float | None = None

    def check(self, key: Hashable, now: float) -> int | None:
        """None: do not log. An int: log, saying that many similar lines were suppressed
        since the last one logged for this key."""
        if key not in self._windows and len(self._windows) >= self.max_keys:
            self._prune(now)
            if len(self._windows) >= self.max_keys:
                key = OVERFLOW
        window = self._windows.get(key)
        if window is None:
            self._windows[key] = _Window(now, 0)
            return 0
        if now - window.started >= self.interval_s:
            suppressed, window.started, window.suppressed = window.suppressed, now, 0
            return suppressed
        window.suppressed += 1
        return None

    def _prune(self, now: float) -> None:
        """Forget finished windows, at most once per interval (an O(n) pass). Their pending
        counts go to `OVERFLOW`, so no suppressed line goes uncounted."""
        if self._pruned_at is not None and now - self._pruned_at < self.interval_s:
            return
        self._pruned_at = now
        done = [k for k, w in self._windows.items() if now - w.started >= self.interval_s]
        lost = sum(self._windows.pop(k).suppressed for k in done if k != OVERFLOW)
        if lost:
            overflow = self._windows.setdefault(OVERFLOW, _Window(now, 0))
            overflow.suppressed += lost


def suffix(suppressed: int) -> str:
    """What the logged line appends: nothing, or how many lines it stands for."""
    if not suppressed:
        return ""
    return f" ({suppressed} similar lines suppressed since the last one)"
