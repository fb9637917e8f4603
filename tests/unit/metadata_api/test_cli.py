import http.client
import json
import re
import signal
import subprocess
import sys
import threading

import pytest

from ovnmeta import cli
from ovnmeta.metadata_api import cli as api_cli
from ovnmeta.metadata_api import model, store

from .conftest import PUBKEY, SECRET, SIGNATURE, UUID


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "state" / "instances.sqlite3")


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def add(capsys, db, *extra):
    return run(
        capsys, "instance", "add", "--db", db, "--uuid", UUID, "--name", "vm1",
        "--project", "demo", "--key", f"lab={PUBKEY}", "--meta", "role=web", *extra,
    )  # fmt: skip


def test_add_show_update_list_rm(capsys, db, tmp_path):
    user_data = tmp_path / "ud.bin"
    user_data.write_bytes(b"\x1f\x8b\x08\x00binary\xff")
    code, out, _ = add(
        capsys, db, "--user-data", str(user_data),
        "--nic", "mac=fa:16:3e:00:00:01,ip=10.0.0.11/24,gw=10.0.0.1,dns=10.0.0.2,mtu=1442",
    )  # fmt: skip
    assert (code, out) == (0, f"{UUID}\n")
    code, out, _ = run(capsys, "instance", "show", UUID, "--db", db, "--json", "--with-user-data")
    doc = json.loads(out)
    assert doc["hostname"] == "vm1" and doc["metadata"] == {"role": "web"}
    assert doc["user_data_bytes"] == 11
    assert store.InstanceStore(db).require(UUID).user_data == user_data.read_bytes()

    code, _, _ = run(
        capsys, "instance", "update", UUID, "--db", db, "--meta", "tier=1",
        "--unset-meta", "role", "--no-user-data", "--name", "renamed",
    )  # fmt: skip
    assert code == 0
    record = store.InstanceStore(db).require(UUID)
    assert (record.name, record.meta, record.user_data) == ("renamed", {"tier": "1"}, None)

    code, out, _ = run(capsys, "instance", "list", "--db", db)
    assert code == 0 and UUID in out and "renamed" in out
    code, out, _ = run(capsys, "instance", "list", "--db", db, "--json")
    assert [r["uuid"] for r in json.loads(out)] == [UUID]
    code, out, _ = run(capsys, "instance", "show", UUID, "--db", db)
    assert "name: renamed" in out and "imds_tokens: optional" in out
    assert run(capsys, "instance", "update", UUID, "--db", db, "--imds-tokens", "required")[0] == 0
    code, out, _ = run(capsys, "instance", "show", UUID, "--db", db)
    assert "imds_tokens: required" in out
    code, out, _ = run(capsys, "instance", "show", UUID, "--db", db, "--json")
    assert json.loads(out)["imds_tokens"] == "required"

    assert run(capsys, "instance", "rm", UUID, "--db", db)[0] == 0
    code, _, err = run(capsys, "instance", "rm", UUID, "--db", db)
    assert code == 2 and "not registered" in err
    assert run(capsys, "instance", "rm", UUID, "--db", db, "--missing-ok")[0] == 0


def test_oversized_user_data_is_refused_and_nothing_stored(capsys, db, tmp_path):
    big = tmp_path / "big"
    big.write_bytes(b"\xff" * (model.MAX_USER_DATA_BYTES + 1))
    code, _, err = add(capsys, db, "--user-data", str(big))
    assert code == 2
    assert err == f"ovnmeta: --user-data {big}: larger than the limit of 49149 bytes\n"
    assert not (tmp_path / "state").exists() or store.InstanceStore(db).list() == ()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--meta", "k\udcff=v"), "metadata key: is not valid UTF-8"),
        (("--meta", "novalue"), "expected KEY=VALUE"),
        (("--key", "lab=not a key"), "OpenSSH"),
        (("--nic", "ip=10.0.0.1/24"), "mac= is required"),
        (("--nic", "mac=fa:16:3e:00:00:01,gw=10.0.0.1"), "must follow an ip="),
        (("--nic", "mac=fa:16:3e:00:00:01,colour=red"), "unknown key 'colour'"),
        (("--hostname", "bad_host"), "valid host name"),
        (("--user-data", "/nonexistent/file"), "cannot read"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(capsys, db, extra, message):
    code, _, err = add(capsys, db, *extra)
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_corrupt_store_is_reported_and_left_alone(capsys, tmp_path):
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"not sqlite\n" * 100)
    code, _, err = run(capsys, "instance", "list", "--db", str(bad))
    assert code == 1 and "not a valid SQLite database" in err
    code, _, err = add(capsys, str(bad))
    assert code == 1
    assert bad.read_bytes() == b"not sqlite\n" * 100


def test_missing_store_for_read_commands(capsys, tmp_path):
    code, _, err = run(capsys, "instance", "show", UUID, "--db", str(tmp_path / "none.db"))
    assert code == 1 and "no instance store here" in err


def test_db_path_from_config_file(capsys, tmp_path):
    ini = tmp_path / "o.ini"
    ini.write_text(f"[metadata_api]\ndb_path = {tmp_path}/from-ini.db\n")
    code, _, _ = run(
        capsys, "instance", "add", "--config-file", str(ini), "--name", "x", "--project", "p"
    )
    assert code == 0 and (tmp_path / "from-ini.db").exists()


def test_parse_nic():
    vif = api_cli.parse_nic(
        "mac=FA:16:3E:00:00:01,net=n1,port=p1,mtu=1400,ip=10.0.0.5/24,gw=10.0.0.1,"
        "dns=1.1.1.1+8.8.8.8,fip=203.0.113.5,ip=fd00::5/64,mode=slaac"
    )
    assert vif == model.Vif(
        mac="fa:16:3e:00:00:01",
        network_id="n1",
        port_id="p1",
        mtu=1400,
        fixed_ips=(
            model.FixedIp(
                "10.0.0.5", 24, gateway="10.0.0.1", dns=("1.1.1.1", "8.8.8.8"),
                floating_ip="203.0.113.5",
            ),
            model.FixedIp("fd00::5", 64, mode="slaac"),
        ),
    )  # fmt: skip


def _wait_for_listening(proc, lines, timeout_s=20.0):
    found = threading.Event()
    port = []

    def pump():
        for line in proc.stderr:
            lines.append(line)
            match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if match and not found.is_set():
                port.append(int(match.group(1)))
                found.set()

    threading.Thread(target=pump, daemon=True).start()
    assert found.wait(timeout_s), "".join(lines)
    return port[0]


def test_server_process_serves_and_stops_gracefully_on_sigterm(tmp_path, capsys, db):
    add(capsys, db)
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "ovnmeta", "metadata-api", "--db", db,
            "--listen", "127.0.0.1", "--port", "0", "--shared-secret-file", str(secret),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        port = _wait_for_listening(proc, lines)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {
            "X-Instance-ID": UUID, "X-Tenant-ID": "demo", "X-Instance-ID-Signature": SIGNATURE,
        }  # fmt: skip
        conn.request("GET", "/openstack/latest/meta_data.json", headers=headers)
        reply = conn.getresponse()
        assert reply.status == 200 and json.loads(reply.read())["uuid"] == UUID
        conn.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert any("stopped" in line for line in lines), "".join(lines)
    assert SECRET not in "".join(lines)


def test_server_refuses_a_port_in_use(tmp_path):
    import socket

    db = str(tmp_path / "i.sqlite3")

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "ovnmeta", "metadata-api", "--db", db, "--port", str(busy)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{busy}" in result.stderr.splitlines()[-1]


def test_server_refuses_a_corrupt_store_with_one_line(tmp_path):
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"garbage" * 100)
    result = subprocess.run(
        [sys.executable, "-m", "ovnmeta", "metadata-api", "--db", str(bad), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(f"ovnmeta: {bad}: cannot open: not a valid")
    assert "Traceback" not in result.stderr
    assert bad.read_bytes() == b"garbage" * 100


def test_network_json_round_trips_through_show(capsys, tmp_path, db):
    nic = "mac=fa:16:3e:00:00:01,ip=10.0.0.11/24,gw=10.0.0.1,ip=fd00::b/64,mode=slaac"
    assert add(capsys, db, "--nic", nic)[0] == 0
    _, out, _ = run(capsys, "instance", "show", UUID, "--db", db, "--json")
    vifs = tmp_path / "vifs.json"
    vifs.write_text(json.dumps(json.loads(out)["vifs"]))
    other = str(tmp_path / "other.sqlite3")
    assert add(capsys, other, "--network-json", str(vifs))[0] == 0
    assert (
        store.InstanceStore(other).require(UUID).vifs == store.InstanceStore(db).require(UUID).vifs
    )
    vifs.write_text('{"not": "a list"}')
    code, _, err = add(capsys, other, "--network-json", str(vifs), "--replace")
    assert code == 2 and "must be a JSON list" in err
    code, _, err = add(capsys, other, "--network-json", str(vifs), "--nic", nic)
    assert code == 2 and "one or the other" in err
