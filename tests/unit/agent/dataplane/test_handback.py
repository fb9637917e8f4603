"""The edge's soft stop on the way back (dataplane/handback.py), on stand-in processes."""

import dataclasses
import subprocess
import sys

from ovnmeta.agent.dataplane import edge_placement, handback

from ..fakes import settings

# Exits on SIGUSR1 (haproxy's soft stop); the state dir is in its command line, as in an edge
# shard's (-f <state_dir>/haproxy.cfg).
SOFT = "import signal, sys; signal.signal(signal.SIGUSR1, lambda *a: sys.exit(0))"
DEAF = "import signal; signal.signal(signal.SIGUSR1, signal.SIG_IGN)"
READY = "; print('ready', flush=True); import time; time.sleep(30)"


def edge(tmp_path):
    return dataclasses.replace(
        settings(tmp_path).edge, state_dir=str(tmp_path), timeout_client=1, timeout_server=1
    )


def shard_haproxy(tmp_path, shard: str, code: str) -> subprocess.Popen:
    argv = [sys.executable, "-c", code + READY, f"{tmp_path}/{shard}haproxy.cfg"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"  # its handler is in place
    (tmp_path / edge_placement.pidfile_name(shard)).write_text(f"{proc.pid}\n")
    return proc


def test_both_shards_soft_stopped_after_migration_is_allowed(tmp_path):
    calls = []
    procs = [shard_haproxy(tmp_path, shard, SOFT) for shard in edge_placement.SHARDS]
    try:
        stopped = handback.soft_stop_edge(edge(tmp_path), lambda: calls.append("migrate"))
        assert sorted(stopped) == sorted(p.pid for p in procs) and calls == ["migrate"]
        assert [p.wait(5) for p in procs] == [0, 0]  # exited by the soft stop, not killed
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_a_shard_ignoring_the_soft_stop_is_terminated_after_the_timeout(tmp_path):
    proc = shard_haproxy(tmp_path, "", DEAF)
    try:
        assert handback.soft_stop_edge(edge(tmp_path), lambda: None) == [proc.pid]
        assert proc.wait(5) != 0
    finally:
        proc.kill()
        proc.wait()


def test_no_edge_running_touches_nothing(tmp_path):
    def fail():
        raise AssertionError("no namespace is touched without an edge")

    assert handback.soft_stop_edge(edge(tmp_path), fail) == []
