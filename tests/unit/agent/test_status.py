import asyncio
import dataclasses
import json

import pytest

from ovnmeta.agent import status
from ovnmeta.core.errors import UsageError

NET = "f3dc8112-273e-4653-af3c-6069330ad350"
SAMPLE = {
    "agent_pid": 1,
    "chassis": "ch1",
    "bridge": "br-int",
    "agent_id": "id",
    "sb": "connected",
    "registered": True,
    "sb_cfg": 4,
    "edge_pid": None,
    "socket": "/x/metadata_proxy",
    "networks": [
        {
            "network": NET,
            "namespace": f"ovnmeta-{NET}",
            "veth": ["tapf3dc8112-20", "tapf3dc8112-21"],
            "iface_id": "mp1",
            "mac": "fa:16:3e:00:00:02",
            "addresses": ["10.0.0.2/24", "169.254.169.254/32"],
            "served": True,
            "failing": 0,
        }
    ],
    "failing": [],
}


def test_table_lists_networks_and_liveness(tmp_path):
    path = tmp_path / "status.json"
    path.write_text(json.dumps(SAMPLE))
    s = status.enrich(status.load(str(path)))
    text = status.render_table(s)
    assert NET in text and "tapf3dc8112-20/tapf3dc8112-21" in text
    assert "edge        haproxy pid None NOT RUNNING" in text
    assert "1 networks served" in text


def test_missing_status_file_is_one_line(tmp_path):
    with pytest.raises(UsageError, match="no status file"):
        status.load(str(tmp_path / "none.json"))


def test_status_record_writes_the_file_readers_expect(tmp_path):
    record = dataclasses.replace(
        _status(),
        networks=(
            status.NetworkStatus(
                network=NET,
                namespace=f"ovnmeta-{NET}",
                veth=("tapf3dc8112-20", "tapf3dc8112-21"),
                iface_id="mp1",
                mac="fa:16:3e:00:00:02",
                addresses=("10.0.0.2/24", "169.254.169.254/32"),
                served=True,
                failing=0,
            ),
        ),
    )
    path = tmp_path / "ovnmeta" / "status.json"
    status.write(str(path), record)
    expected = {**SAMPLE, "updated_at": 1.5, "sb_since": 1.0, "sb_index": {}}
    assert status.load(str(path)) == expected
    assert list(status.load(str(path))) == [
        "agent_pid", "updated_at", "chassis", "bridge", "agent_id", "sb", "sb_since",
        "registered", "sb_cfg", "edge_pid", "socket", "networks", "failing", "sb_index",
    ]  # fmt: skip
    with pytest.raises(AttributeError):
        record.sb = "disconnected"  # frozen


def test_flush_writes_without_the_pause_between_writes(tmp_path):
    asyncio.run(_flush_writes_at_once(tmp_path))


async def _flush_writes_at_once(tmp_path):
    path = tmp_path / "status.json"
    writes: list[int] = []
    pauses: list[float] = []
    never = asyncio.Event()

    def snapshot() -> status.Status:
        writes.append(len(writes))
        return _status()

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        await never.wait()  # neither the pause nor the heartbeat ever ends by itself

    keeper = status.Keeper(str(path), snapshot, sleep)
    task = asyncio.ensure_future(keeper.run())
    keeper.touch()
    for _ in range(50):
        await asyncio.sleep(0.01)
        if status.MIN_INTERVAL_S in pauses:
            break
    assert writes == [0]
    keeper.touch()  # within the pause: waits for it
    await asyncio.sleep(0.05)
    assert writes == [0]
    keeper.flush()  # a full sync done: now
    for _ in range(50):
        await asyncio.sleep(0.01)
        if len(writes) == 2:
            break
    task.cancel()
    assert writes == [0, 1]
    assert json.loads(path.read_text())["agent_pid"] == 1


def _status() -> status.Status:
    return status.Status(
        agent_pid=1,
        updated_at=1.5,
        chassis="ch1",
        bridge="br-int",
        agent_id="id",
        sb="connected",
        sb_since=1.0,
        registered=True,
        sb_cfg=4,
        edge_pid=None,
        socket="/x/metadata_proxy",
        networks=(),
        failing=(),
    )
