import os
import subprocess
import sys

from ovnmeta.agent.dataplane import takeover

NET = "4b5e1d2c-6b8f-4d68-98be-59dcd0eb5a3c"


def test_pidfile_is_upstreams_name(tmp_path):
    assert takeover.pidfile(str(tmp_path), NET) == f"{tmp_path}/{NET}.pid.haproxy"


def test_no_pid_directory_retires_nothing(tmp_path):
    assert takeover.retire_all("", {NET: f"ovnmeta-{NET}"}) == []
    assert takeover.retire_all(str(tmp_path / "absent"), {NET: f"ovnmeta-{NET}"}) == []


def test_only_a_haproxy_naming_the_network_is_upstreams(tmp_path):
    # a live process that is not a haproxy of this network (a stale pid file, a reused pid)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", NET])
    try:
        with open(takeover.pidfile(str(tmp_path), NET), "w") as f:
            f.write(f"{proc.pid}\n")
        assert takeover.upstream_pid(str(tmp_path), NET) is None
        assert takeover.retire_all(str(tmp_path), {NET: f"ovnmeta-{NET}"}) == []
        assert proc.poll() is None  # never signalled
    finally:
        proc.kill()
        proc.wait()


def test_a_dead_pid_is_no_upstream_haproxy(tmp_path):
    with open(takeover.pidfile(str(tmp_path), NET), "w") as f:
        f.write("999999999\n")
    assert takeover.upstream_pid(str(tmp_path), NET) is None
    assert os.path.exists(takeover.pidfile(str(tmp_path), NET))  # left alone
