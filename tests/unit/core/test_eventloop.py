import asyncio
import sys

import uvloop

from ovnmeta.core import eventloop


async def loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_uvloop_runs_when_installed(monkeypatch):
    monkeypatch.delenv(eventloop.ENV, raising=False)
    assert eventloop.name() == "uvloop"
    assert issubclass(eventloop.run(loop_type()), uvloop.Loop)


def test_asyncio_when_opted_out(monkeypatch):
    monkeypatch.setenv(eventloop.ENV, "asyncio")
    assert eventloop.name() == "asyncio"
    assert not issubclass(eventloop.run(loop_type()), uvloop.Loop)


def test_asyncio_when_uvloop_is_missing(monkeypatch):
    monkeypatch.delenv(eventloop.ENV, raising=False)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import fails
    assert eventloop.loop_factory() is None
    assert eventloop.run(asyncio.sleep(0, result=42)) == 42
