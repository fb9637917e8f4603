"""Real neutron for `lab up --neutron`: its API with the ML2/OVN driver on the lab's NB and SB,
on a private MariaDB, from the pinned neutron venv (`lab.neutron_venv`).

Everything lives in `<lab>/neutron/`: the database, `neutron.conf`, logs, lock and temporary
files (neutron writes election files to the temporary directory), and `api.port`, the loopback
port the API listens on (ephemeral: several labs run side by side). The API runs in the host's
network namespace, where the lab's tools and tests run, and reaches NB and SB over their UNIX
sockets, as every lab tool does.
"""

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from ovnmeta.core.errors import LabError
from ovnmeta.core.procfs import alive, read_pid
from ovnmeta.lab import mariadb
from ovnmeta.lab.neutron_venv import NEUTRON_VERSION, NeutronVenv
from ovnmeta.lab.proc import run, spawn, wait_until

DATABASE = "neutron"
# Neutron's agent_down_time in the lab: short, so liveness tests take seconds, not minutes.
# The lab's agents keep their default (75), as in issue 11: the heartbeat must still never let
# neutron see a running agent dead (docs/agent.md, "Liveness").
AGENT_DOWN_TIME = 10
RUNNER = Path(__file__).with_name("neutron_wsgi.py")
TEMPLATE = ".ovnmeta-mariadb-template"  # in the neutron venv: a migrated data directory
STAMP = "ovnmeta-template-stamp"


def base(lab_dir: Path) -> Path:
    return lab_dir / "neutron"


def render_conf(
    *, state: Path, db_url: str, nb: str, sb: str, paste: Path, host: str, log: Path
) -> str:
    """neutron.conf for ML2/OVN with noauth and no message bus (issue 11 lists what works)."""
    return f"""[DEFAULT]
core_plugin = ml2
service_plugins =
auth_strategy = noauth
transport_url = fake:/
host = {host}
state_path = {state}
api_paste_config = {paste}
agent_down_time = {AGENT_DOWN_TIME}
log_file = {log}
debug = false
# no Nova in the lab: ovnmeta's metadata API stands in for it, and needs no events
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false

[database]
connection = {db_url}

[oslo_concurrency]
lock_path = {state}/lock

[ml2]
mechanism_drivers = ovn
type_drivers = geneve,flat
tenant_network_types = geneve
extension_drivers = port_security

[ml2_type_geneve]
vni_ranges = 1:65536
max_header_size = 38

[ovn]
ovn_nb_connection = {nb}
ovn_sb_connection = {sb}
ovn_metadata_enabled = True
"""


def conf_file(lab_dir: Path) -> Path:
    return base(lab_dir) / "neutron.conf"


def port_file(lab_dir: Path) -> Path:
    return base(lab_dir) / "api.port"


def api_pidfile(lab_dir: Path) -> Path:
    return base(lab_dir) / "neutron-api.pid"


def api_log(lab_dir: Path) -> Path:
    return base(lab_dir) / "neutron-api.log"


def _env(lab_dir: Path) -> dict[str, str]:
    tmp = base(lab_dir) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return {"ASGI_WORKERS": "1", "TMPDIR": str(tmp), "OS_NEUTRON_CONFIG_FILES": ""}


def prepare_database(
    lab_dir: Path, venv: NeutronVenv, say: Callable[[str], None] = lambda _: None
) -> None:
    """MariaDB up with neutron's schema. Needs no OVN, so the lab runs it while the other
    daemons start. The first time, `neutron-db-manage upgrade heads` makes the schema (14 s idle,
    a minute on a loaded machine) and the cleanly shut down data directory is kept next to the
    venv (`TEMPLATE`, stamped with the neutron and MariaDB versions); later labs copy it."""
    b = base(lab_dir)
    datadir = mariadb.files(b)["datadir"]
    template = venv.root / TEMPLATE
    stamp = f"neutron {NEUTRON_VERSION}, {mariadb.version()}\n"
    t0 = time.monotonic()
    if (template / STAMP).is_file() and (template / STAMP).read_text() == stamp:
        b.mkdir(parents=True, exist_ok=True)
        shutil.copytree(template, datadir, symlinks=True)
        mariadb.start(b)
        say(f"neutron: MariaDB up with neutron's schema (cached) in {time.monotonic() - t0:.1f} s")
        return
    mariadb.init(b)
    mariadb.start(b)
    mariadb.sql(b, f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
    say(f"neutron: MariaDB up in {time.monotonic() - t0:.1f} s")
    t0 = time.monotonic()
    migrate = b / "db-manage.conf"
    migrate.write_text(f"[database]\nconnection = {mariadb.url(b, DATABASE)}\n")
    run(
        [str(venv.bin("neutron-db-manage")), "--config-file", str(migrate), "upgrade", "heads"],
        env=_env(lab_dir),
        timeout=300,
    )
    say(f"neutron: schema migrated (upgrade heads) in {time.monotonic() - t0:.1f} s")
    mariadb.shutdown(b)
    _keep_template(datadir, template, stamp)
    mariadb.start(b)


def _keep_template(datadir: Path, template: Path, stamp: str) -> None:
    """Copy the data directory to the template, atomically (concurrent labs: the first wins)."""
    partial = template.with_name(f"{template.name}.{os.getpid()}.tmp")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(datadir, partial, symlinks=True)
    (partial / STAMP).write_text(stamp)
    shutil.rmtree(template, ignore_errors=True)
    try:
        os.rename(partial, template)
    except OSError:  # another lab put its template there meanwhile
        shutil.rmtree(partial, ignore_errors=True)


def start_api(lab_dir: Path, venv: NeutronVenv, nb: str, sb: str, host: str) -> int:
    b = base(lab_dir)
    (b / "state" / "lock").mkdir(parents=True, exist_ok=True)
    conf_file(lab_dir).write_text(
        render_conf(
            state=b / "state",
            db_url=mariadb.url(b, DATABASE),
            nb=nb,
            sb=sb,
            paste=venv.root / "etc" / "neutron" / "api-paste.ini",
            host=host,
            log=api_log(lab_dir),
        )
    )
    port_file(lab_dir).unlink(missing_ok=True)
    return spawn(
        [str(venv.python), str(RUNNER), str(port_file(lab_dir)),
         "--config-file", str(conf_file(lab_dir))],
        pidfile=api_pidfile(lab_dir),
        log=b / "neutron-api.stderr",
        env=_env(lab_dir),
    )  # fmt: skip


def wait_api(lab_dir: Path, timeout: float = 120) -> int:
    """The API's port, once the application is loaded; LabError naming the cause if it died."""

    def ready() -> int | None:
        pid = read_pid(api_pidfile(lab_dir))
        if pid is None or not alive(pid):
            raise LabError(f"the neutron API exited at start: {_last_error(lab_dir)}")
        try:
            return int(port_file(lab_dir).read_text())
        except (FileNotFoundError, ValueError):
            return None

    return wait_until("the neutron API to load", ready, timeout, interval=0.2)


def api_port(lab_dir: Path) -> int:
    try:
        return int(port_file(lab_dir).read_text())
    except (FileNotFoundError, ValueError):
        raise LabError("the neutron API is not running (no api.port)") from None


def api_pid(lab_dir: Path) -> int | None:
    pid = read_pid(api_pidfile(lab_dir))
    return pid if alive(pid) else None


def _last_error(lab_dir: Path) -> str:
    for path in (base(lab_dir) / "neutron-api.stderr", api_log(lab_dir)):
        if path.exists():
            lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
            errors = [ln for ln in lines if "Error" in ln or "ERROR" in ln]
            if errors or lines:
                return (errors or lines)[-1][-300:]
    return "no output"


def in_use(lab_dir: Path) -> bool:
    return os.path.isdir(base(lab_dir))
