"""Pid files and liveness against real processes of this test (no root)."""

import os
import subprocess
import sys
import time

from ovnmeta.core import procfs


def test_a_running_process_is_alive_and_a_reaped_one_is_not():
    assert procfs.alive(os.getpid())
    done = subprocess.Popen(["true"])
    done.wait()
    assert not procfs.alive(done.pid)
    assert not procfs.alive(None) and not procfs.alive(0)


def test_a_zombie_is_not_alive():
    zombie = subprocess.Popen(["true"])
    try:
        os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
        assert not procfs.alive(zombie.pid)
    finally:
        zombie.wait()


def test_read_pid_takes_the_first_word_and_refuses_garbage(tmp_path):
    path = tmp_path / "x.pid"
    assert procfs.read_pid(path) is None
    path.write_text("123 extra\n")
    assert procfs.read_pid(path) == 123
    path.write_text("")
    assert procfs.read_pid(path) is None
    path.write_text("abc\n")
    assert procfs.read_pid(str(path)) is None


def test_owned_pid_needs_a_live_process_carrying_the_marker(tmp_path):
    marker = str(tmp_path / "lab")
    argv = [sys.executable, "-c", "import time; time.sleep(30)", marker]
    sleeper = subprocess.Popen(argv)
    try:
        path = tmp_path / "sleep.pid"
        path.write_text(f"{sleeper.pid}\n")
        deadline = time.monotonic() + 10  # until the child has exec'd
        while procfs.cmdline(sleeper.pid) != " ".join(argv) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert procfs.cmdline(sleeper.pid) == " ".join(argv)
        assert procfs.owned_pid(path, marker) == sleeper.pid
        assert procfs.owned_pid(path, str(tmp_path / "other")) is None
        assert sleeper.pid in procfs.pids()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert procfs.owned_pid(path, marker) is None
    assert procfs.cmdline(sleeper.pid) == ""


def test_owned_pid_waits_out_an_exec_in_progress(tmp_path, monkeypatch):
    """An empty command line of a live process is an exec under way (nsenter -> agent), not
    another program: read again. One that stays empty (a kernel thread) is not ours."""
    path = tmp_path / "agent.pid"
    path.write_text(f"{os.getpid()}\n")
    marker = str(tmp_path)
    reads = iter(["", "", f"python -m ovnmeta agent --config-dir {marker}/etc"])
    monkeypatch.setattr(procfs, "cmdline", lambda pid: next(reads))
    assert procfs.owned_pid(path, marker) == os.getpid()

    monkeypatch.setattr(procfs, "cmdline", lambda pid: "")
    monkeypatch.setattr(procfs, "EXEC_WINDOW_S", 0.05)
    assert procfs.owned_pid(path, marker) is None


def test_carries_waits_out_an_exec_in_progress(monkeypatch):
    """The same for a pid known without a pid file (the lab's upstream agent, started
    through nsenter): an empty read is not an exit, another program's command line is."""
    reads = iter(["", "neutron-ovn-agent --config-file /lab/ovn_agent.ini"])
    monkeypatch.setattr(procfs, "cmdline", lambda pid: next(reads))
    assert procfs.carries(os.getpid(), "/lab/ovn_agent.ini")

    monkeypatch.setattr(procfs, "cmdline", lambda pid: "sleep 100")
    assert not procfs.carries(os.getpid(), "/lab/ovn_agent.ini")
