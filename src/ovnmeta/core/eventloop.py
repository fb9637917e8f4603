"""Run the agent's and the metadata API's event loop: uvloop when it is installed, else asyncio's.

uvloop (libuv, in C) does the same work as asyncio's selector loop with less CPU per callback
and per socket operation; on the request path (edge -> agent -> backend) it cut the agent's
CPU time per request (docs/agent.md "Performance"). Nothing depends on it: without it, or with
OVNMETA_EVENT_LOOP=asyncio, the standard loop runs and behaves the same.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

ENV = "OVNMETA_EVENT_LOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop constructor, or None for asyncio's default (not installed, or opted out)."""
    if os.environ.get(ENV, "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def name() -> str:
    return "uvloop" if loop_factory() is not None else "asyncio"


def run(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
