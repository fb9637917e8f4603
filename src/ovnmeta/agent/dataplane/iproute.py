"""pyroute2's `IPRoute` and `NetlinkError`, without the rest of pyroute2.

`import pyroute2` (or any of its submodules, which runs the package first) imports every
family pyroute2 has: NDB, IPDB, nftables, nl80211, conntrack, plan9, ... In the agent that was
+8.0 MB anonymous and 187 modules at its first change to the host; the two modules `apply`
uses, `pyroute2.iproute.linux` and `pyroute2.netlink.exceptions`, are 3.9 MB and 118 modules
(docs/agent.md, "The agent's memory at 1,000 networks").

So the package is registered before its submodules are imported, without running its
`__init__`. Anything else in the process that asks `pyroute2` for a name it does not have
(`from pyroute2 import NDB`) runs the real `__init__` then, into the same module: the full
package, as if it had been imported first. If pyroute2 is already imported, it is used as is.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from importlib.machinery import PathFinder
from typing import Any

_lock = threading.RLock()  # re-entered: the real __init__'s own imports may ask the package


def _register_package() -> None:
    with _lock:
        if "pyroute2" in sys.modules:
            return
        spec = importlib.util.find_spec("pyroute2")
        if spec is None or spec.loader is None:
            raise ImportError("pyroute2 is not installed")
        package = importlib.util.module_from_spec(spec)
        state = {"full": False}

        def full_package(name: str) -> Any:
            # PEP 562: only names the package does not have (yet) arrive here. A submodule's
            # name is not one (`from pyroute2 import config` asks first, then imports it).
            if PathFinder.find_spec(f"pyroute2.{name}", package.__path__):
                raise AttributeError(name)
            with _lock:
                if not state["full"]:
                    state["full"] = True
                    spec.loader.exec_module(package)  # type: ignore[union-attr]
            try:
                return package.__dict__[name]
            except KeyError:
                raise AttributeError(f"module 'pyroute2' has no attribute {name!r}") from None

        package.__getattr__ = full_package  # type: ignore[method-assign]
        sys.modules["pyroute2"] = package


def _load() -> tuple[type, type[Exception]]:
    _register_package()
    from pyroute2.iproute.linux import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    return IPRoute, NetlinkError


IPRoute, NetlinkError = _load()

__all__ = ["IPRoute", "NetlinkError"]
