import configparser
from pathlib import Path

from ovnmeta.lab import mariadb, neutron_server
from ovnmeta.lab.neutron_client import _fault


def _conf(tmp_path: Path) -> configparser.ConfigParser:
    text = neutron_server.render_conf(
        state=tmp_path / "state",
        db_url=mariadb.url(tmp_path, "neutron"),
        nb="unix:/lab/ctl1/ovnnb_db.sock",
        sb="unix:/lab/ctl1/ovnsb_db.sock",
        paste=tmp_path / "api-paste.ini",
        host="ctl1",
        log=tmp_path / "neutron.log",
    )
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def test_neutron_conf_is_ml2_ovn_on_the_lab_databases(tmp_path: Path) -> None:
    conf = _conf(tmp_path)
    assert conf["DEFAULT"]["core_plugin"] == "ml2"
    assert conf["DEFAULT"]["auth_strategy"] == "noauth"
    assert conf["DEFAULT"]["transport_url"] == "fake:/"  # no message bus
    assert conf["DEFAULT"]["agent_down_time"] == str(neutron_server.AGENT_DOWN_TIME)
    assert conf["ml2"]["mechanism_drivers"] == "ovn"
    assert conf["ovn"]["ovn_nb_connection"] == "unix:/lab/ctl1/ovnnb_db.sock"
    assert conf["ovn"]["ovn_metadata_enabled"] == "True"
    assert conf["DEFAULT"]["notify_nova_on_port_status_changes"] == "false"


def test_database_is_the_private_socket(tmp_path: Path) -> None:
    url = _conf(tmp_path)["database"]["connection"]
    assert url == f"mysql+pymysql://root@localhost/neutron?unix_socket={tmp_path}/mysqld.sock"


def test_neutron_faults_become_their_message() -> None:
    body = b'{"NeutronError": {"type": "X", "message": "Invalid input for fixed_ips."}}'
    assert _fault(body) == "Invalid input for fixed_ips."
    assert _fault(b"<html>oops</html>") == "<html>oops</html>"


def test_the_schema_template_is_kept_atomically_with_its_stamp(tmp_path: Path) -> None:
    datadir = tmp_path / "db"
    (datadir / "neutron").mkdir(parents=True)
    (datadir / "neutron" / "ports.ibd").write_bytes(b"x")
    template = tmp_path / neutron_server.TEMPLATE
    neutron_server._keep_template(datadir, template, "neutron 29.0.0, mariadbd 10.11\n")
    assert (template / "neutron" / "ports.ibd").read_bytes() == b"x"
    assert (template / neutron_server.STAMP).read_text() == "neutron 29.0.0, mariadbd 10.11\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["db", template.name])
