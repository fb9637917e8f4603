"""One logging set-up for every ovnmeta process, and the per-network adapter.

The agent passes the upstream options (debug, log_file, log_dir, use_syslog); the metadata API
logs to stderr (`setup(debug)`). Every line about one network starts `[net f3dc8112]`."""

from __future__ import annotations

import logging
import logging.handlers
import os

FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s %(message)s"


def setup(
    debug: bool,
    log_file: str | None = None,
    log_dir: str | None = None,
    use_syslog: bool = False,
    default_name: str = "ovnmeta-agent.log",
) -> None:
    handler: logging.Handler
    if use_syslog:
        handler = logging.handlers.SysLogHandler(address="/dev/log")
        handler.setFormatter(logging.Formatter("ovnmeta: %(levelname)s %(name)s %(message)s"))
    elif log_file or log_dir:
        path = log_file or default_name
        if log_dir and not os.path.isabs(path):
            path = os.path.join(log_dir, path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        handler = logging.handlers.WatchedFileHandler(path)
        handler.setFormatter(logging.Formatter(FORMAT))
    else:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(_quiet_libraries)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)


_NOISY = {
    "pyroute2": logging.WARNING,
    "ovsdbapp": logging.INFO,
    "asyncio": logging.INFO,
    "aiohttp.access": logging.WARNING,
}


def _quiet_libraries(record: logging.LogRecord) -> bool:
    """Libraries set their own logger levels at import time, so filter at the handler:
    netlink and OVSDB internals at DEBUG would drown the agent's own lines."""
    top = record.name.split(".", 1)[0]
    limit = _NOISY.get(top) or _NOISY.get(record.name)
    return limit is None or record.levelno >= limit


class NetworkLogger(logging.LoggerAdapter):
    """kopf's ObjectLogger for a network: `extra={"network": net}` for structured handlers and
    the `[net f3dc8112]` prefix for people, so one grep finds every line about the network."""

    def process(self, msg, kwargs):  # type: ignore[no-untyped-def]
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return f"[net {self.extra['network'][:8]}] {msg}", kwargs  # type: ignore[index]


def for_network(network: str, logger: logging.Logger) -> NetworkLogger:
    """`logs.for_network(net, logger).info("provisioned")` -> `[net f3dc8112] provisioned`."""
    return NetworkLogger(logger, {"network": network})
