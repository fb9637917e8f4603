"""Log lines a guest can trigger, at most one per interval per (kind, network, source) (I/O).

A guest decides how often the proxy logs "no instance for ...", a refused target, a rejection,
a Nova error, or a request aiohttp's parser refuses: one line per request would let it write
the agent's journal as fast as it sends. The first line of a window is logged, the rest only
counted (`loglimit`), and the next logged line says how many it stands for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable

from ovnmeta.agent.proxy import loglimit, request


class GuestLog:
    def __init__(self, interval_s: float, logger: logging.Logger) -> None:
        self._limiter = loglimit.LogLimiter(interval_s)
        self._logger = logger

    def warn(
        self, guest: request.Guest, kind: str, msg: str, *args: object, level: int = logging.WARNING
    ) -> None:
        key: Hashable = (kind, guest.network, guest.ip)
        suppressed = self._limiter.check(key, time.monotonic())
        if suppressed is None:
            return
        self._logger.log(level, msg + "%s", *args, loglimit.suffix(suppressed))

    def parser_logger(self) -> logging.Logger:
        """For aiohttp's own "Error handling request" lines (a request line or header over its
        limits, which the edge lets through below its 16 kB buffer): a traceback per request
        otherwise. One line per interval instead, without the traceback."""
        parser_logger = logging.getLogger(f"{self._logger.name}.parser")
        for old in [f for f in parser_logger.filters if isinstance(f, _OnePerInterval)]:
            parser_logger.removeFilter(old)  # a previous server's, in the same process
        parser_logger.addFilter(_OnePerInterval(self._limiter))
        return parser_logger


class _OnePerInterval(logging.Filter):
    """Turns aiohttp's "Error handling request" tracebacks into one WARNING per interval."""

    def __init__(self, limiter: loglimit.LogLimiter) -> None:
        super().__init__()
        self._limiter = limiter

    def filter(self, record: logging.LogRecord) -> bool:
        suppressed = self._limiter.check(("unparsable",), time.monotonic())
        if suppressed is None:
            return False
        error = record.exc_info[1] if record.exc_info else None
        detail = error if error is not None else record.getMessage()
        record.msg = "refused a request the HTTP parser could not read: %s%s"
        record.args = (detail, loglimit.suffix(suppressed))
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
