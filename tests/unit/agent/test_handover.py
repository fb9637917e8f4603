"""`ovnmeta agent --release` (agent/handover.py) without root: the socket-path swap on plain
files (an upstream bind is an unlink and a new inode at the same path), the served networks,
the refusal without a running agent."""

import json
import logging
import os
import threading
import time

from ovnmeta.agent import handover

from .fakes import settings


def test_upstream_socket_kept_aside_and_ovnmeta_put_back_on_the_path(tmp_path):
    path = tmp_path / "metadata_proxy"
    path.write_text("ovnmeta")
    ours, theirs = f"{path}.ovnmeta", f"{path}.upstream"
    os.link(path, ours)

    def upstream_binds():
        time.sleep(0.05)
        path.unlink()  # upstream: ensure_directory_exists_without_file, then bind
        time.sleep(0.05)
        path.write_text("upstream")

    binder = threading.Thread(target=upstream_binds)
    binder.start()
    assert handover._swap_when_upstream_binds(str(path), ours, theirs)
    binder.join()
    assert path.read_text() == "ovnmeta"
    with open(theirs) as f:
        assert f.read() == "upstream"
    assert os.stat(ours).st_ino == os.stat(path).st_ino
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".new")] == []


def test_served_networks_of_both_shards(tmp_path):
    (tmp_path / "networks.json").write_text(json.dumps({"net-b": {}, "net-a": {}}))
    (tmp_path / "young-networks.json").write_text(json.dumps({"net-c": {}}))
    assert handover._served_networks(str(tmp_path)) == ["net-a", "net-b", "net-c"]
    assert handover._served_networks(str(tmp_path / "none")) == []


def test_release_refuses_without_a_running_agent(tmp_path, caplog):
    caplog.set_level(logging.ERROR)
    assert handover.release(settings(tmp_path)) == 1
    [line] = [r.getMessage() for r in caplog.records]
    assert "must run and answer on it; run --release before upstream's agent starts" in line
    assert not any(p.name.endswith(".ovnmeta") for p in tmp_path.iterdir())
