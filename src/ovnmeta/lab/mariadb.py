"""A private MariaDB for `lab up --neutron`: one mariadbd per lab, on a UNIX socket in the lab
directory, no TCP, started and stopped by the lab like its other daemons.

Neutron's migrations need a real SQL server (SQLite cannot ALTER constraints; issue 11). The
Debian package `mariadb-server-core` ships the server binaries without the system service, so
nothing is started on the host by installing it; the lab's server reads no option file
(`--no-defaults`) and keeps everything under `<lab>/neutron/db`.
"""

import os
import signal
from pathlib import Path

from ovnmeta.core.errors import LabError
from ovnmeta.core.procfs import alive, read_pid
from ovnmeta.lab.proc import run, spawn, wait_until

PROGRAMS = {
    "mariadbd": "mariadb-server-core",
    "mariadb-install-db": "mariadb-server-core",
    "mariadb": "mariadb-client-core",
}


def files(base: Path) -> dict[str, Path]:
    return {
        "datadir": base / "db",
        "sock": base / "mysqld.sock",
        "pid": base / "mysqld.pid",
        "log": base / "mysqld.log",
    }


def url(base: Path, database: str) -> str:
    """The SQLAlchemy URL neutron connects with (PyMySQL over the UNIX socket)."""
    return f"mysql+pymysql://root@localhost/{database}?unix_socket={files(base)['sock']}"


def init(base: Path, timeout: float = 60) -> None:
    """An empty data directory (system tables only)."""
    base.mkdir(parents=True, exist_ok=True)
    run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={files(base)['datadir']}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ],
        timeout=timeout,
    )


def start(base: Path, timeout: float = 60) -> int:
    """Start the server on an existing data directory and wait until it answers."""
    f = files(base)
    pid = spawn(
        [
            "mariadbd",
            "--no-defaults",
            f"--datadir={f['datadir']}",
            f"--socket={f['sock']}",
            f"--pid-file={f['pid']}",
            f"--log-error={f['log']}",
            "--skip-networking",
            "--user=root",
            # small and quick: a lab database of a few MB, thrown away at `lab down`
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=16M",
            "--innodb-flush-log-at-trx-commit=0",
            "--skip-log-bin",
            "--performance-schema=OFF",
        ],
        pidfile=f["pid"],
        log=base / "mysqld.stderr",
    )

    def answering() -> bool:
        if not alive(pid):
            tail = f["log"].read_text(errors="replace").strip().splitlines()[-1:] or ["no log"]
            raise LabError(f"mariadbd exited at start: {tail[0]}")
        return sql(base, "SELECT 1", check=False).strip() == "1"

    wait_until("the lab's MariaDB to answer", answering, timeout)
    return pid


def shutdown(base: Path, timeout: float = 60) -> None:
    """A clean shutdown (SIGTERM, InnoDB flushed): the data directory can be copied."""
    value = pid(base)
    if value is None:
        return
    os.kill(value, signal.SIGTERM)
    wait_until("mariadbd to shut down", lambda: not alive(value), timeout)


def version() -> str:
    return run(["mariadbd", "--no-defaults", "--version"]).strip()


def sql(base: Path, statement: str, check: bool = True) -> str:
    return run(
        ["mariadb", "--no-defaults", "-S", str(files(base)["sock"]), "-uroot", "-N", "-B",
         "-e", statement],
        check=check,
        timeout=30,
    )  # fmt: skip


def pid(base: Path) -> int | None:
    value = read_pid(files(base)["pid"])
    return value if alive(value) else None
