"""The instance store: one SQLite file, the embedded default behind the metadata API.

    store = InstanceStore("/var/lib/ovnmeta/instances.sqlite3")   # creates the file if missing
    store.add(record)                      # InstanceRecord; replace=True to re-register
    store.get(uuid) -> InstanceRecord | None
    store.require(uuid) -> InstanceRecord  # UnknownInstance (a UsageError) when absent
    store.list() -> tuple[InstanceRecord, ...]
    store.update(uuid, name=..., metadata=..., ...) -> InstanceRecord
    store.remove(uuid)
    store.get_password(uuid) / set_password(uuid, text) / clear_password(uuid)

Every write is one `BEGIN IMMEDIATE` transaction, so a failure leaves the file as it was.
The journal is WAL, so the API server keeps reading while `ovnmeta instance ...` writes.
Every sqlite3 error is translated here, once, into a one-line StoreError that names the file,
the operation and the cause (locked, not a database, cannot open...). A file that is not an
ovnmeta store is never written to. One connection per store object, guarded by a lock, so the
object may be shared with a worker thread (`asyncio.to_thread`).
"""

import contextlib
import dataclasses
import enum
import json
import logging
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ovnmeta.core.errors import StoreError, UsageError
from ovnmeta.metadata_api import codec, model

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: imds_tokens (session tokens, issue 12)
MAX_PASSWORD_CHARS = 1020  # Nova keeps 4 chunks of 255 characters

_SCHEMA = """
CREATE TABLE instances (
    uuid TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    hostname TEXT NOT NULL,
    project_id TEXT NOT NULL,
    availability_zone TEXT,
    launch_index INTEGER NOT NULL,
    flavor TEXT NOT NULL,
    user_data BLOB,
    key_pairs TEXT NOT NULL,
    metadata TEXT NOT NULL,
    vendor_data TEXT,
    vifs TEXT NOT NULL,
    security_groups TEXT NOT NULL,
    password TEXT NOT NULL DEFAULT '',
    imds_tokens TEXT NOT NULL DEFAULT 'optional',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
) STRICT;
CREATE INDEX instances_project ON instances (project_id);
"""
_COLUMNS = (
    "uuid, name, hostname, project_id, availability_zone, launch_index, flavor, user_data, "
    "key_pairs, metadata, vendor_data, vifs, security_groups, imds_tokens"
)
# Each step brings a store from its version to the next, in one transaction.
_MIGRATIONS = {
    1: ("ALTER TABLE instances ADD COLUMN imds_tokens TEXT NOT NULL DEFAULT 'optional'",),
}
_UPDATE = (
    "UPDATE instances SET name = ?, hostname = ?, project_id = ?, availability_zone = ?, "
    "launch_index = ?, flavor = ?, user_data = ?, key_pairs = ?, metadata = ?, vendor_data = ?, "
    "vifs = ?, security_groups = ?, imds_tokens = ?, updated_at = ? WHERE uuid = ?"
)


class UnknownInstance(UsageError):
    """The instance named on the command line is not in the store."""


class PasswordResult(enum.Enum):
    STORED = "stored"
    CONFLICT = "conflict"  # a password is already set: 409
    GONE = "gone"  # the instance was removed meanwhile: 400


class InstanceStore:
    def __init__(self, path: str | Path, *, create: bool = True, timeout_s: float = 5.0) -> None:
        """Open (and with `create`, initialise) the store; StoreError when that is impossible."""
        self.path = Path(path)
        self._lock = threading.Lock()
        if not create and not self.path.exists():
            raise StoreError(
                f"{self.path}: no instance store here (register one with "
                f"`ovnmeta instance add --db {self.path} ...`, or check --db)"
            )
        mode = "rwc" if create else "rw"
        uri = f"file:{urllib.parse.quote(str(self.path))}?mode={mode}"
        with self._translate("open"):
            self._conn = sqlite3.connect(
                uri, uri=True, timeout=timeout_s, isolation_level=None, check_same_thread=False
            )
        try:
            with self._translate("open"):
                self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
                self._prepare()
        except BaseException:
            self._conn.close()
            raise

    def _prepare(self) -> None:
        # Read-only probes first: a corrupt or foreign file must stay byte-for-byte untouched.
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {
            row[0]
            for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: schema version {version} is newer than this ovnmeta "
                f"({SCHEMA_VERSION}) (upgrade ovnmeta)"
            )
        if version == 0 and tables:
            raise StoreError(
                f"{self.path}: not an ovnmeta instance store (it has tables "
                f"{sorted(tables)[:5]!r}; point --db at another file)"
            )
        if version >= 1 and "instances" not in tables:
            raise StoreError(f"{self.path}: instance table is missing (damaged store)")
        if version == 0:
            self._create_schema()
        elif version < SCHEMA_VERSION:
            self._migrate()

    def _migrate(self) -> None:
        with self._transaction():
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            while version < SCHEMA_VERSION:
                for statement in _MIGRATIONS[version]:
                    self._conn.execute(statement)
                version += 1
                self._conn.execute(f"PRAGMA user_version = {version}")
                logger.info("instance store %s: schema upgraded to version %d", self.path, version)

    def _create_schema(self) -> None:
        self._conn.execute("PRAGMA journal_mode = WAL")
        with self._transaction():
            # Another process may have created it while we waited for the write lock.
            if self._conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                logger.info("created instance store %s", self.path)

    # --- plumbing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _translate(self, operation: str) -> Iterator[None]:
        """sqlite3 errors -> one StoreError line (the only place that knows sqlite3's wording)."""
        try:
            yield
        except sqlite3.Error as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                hint = "database is locked by another process (retry; is another writer stuck?)"
            elif "not a database" in text or "malformed" in text:
                hint = (
                    f"not a valid SQLite database ({text}) (the file was left untouched; "
                    "move it away or restore a backup)"
                )
            elif "unable to open" in text:
                hint = f"{text} (does the directory exist and is it writable?)"
            elif "readonly" in text:
                hint = f"{text} (check the file's permissions)"
            else:
                hint = text
            raise StoreError(f"{self.path}: cannot {operation}: {hint}") from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE (the database's write lock) ... COMMIT; ROLLBACK on anything raised."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _write(self, operation: str) -> Iterator[sqlite3.Connection]:
        with self._lock, self._translate(operation), self._transaction() as conn:
            yield conn

    @contextlib.contextmanager
    def _read(self, operation: str) -> Iterator[sqlite3.Connection]:
        with self._lock, self._translate(operation):
            yield self._conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "InstanceStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- rows ---------------------------------------------------------------------------------

    @staticmethod
    def _row(record: model.InstanceRecord) -> tuple[Any, ...]:
        doc = codec.to_dict(record, user_data=False)
        return (
            record.uuid,
            record.name,
            record.hostname,
            record.project_id,
            record.availability_zone,
            record.launch_index,
            record.flavor,
            record.user_data,
            json.dumps(doc["key_pairs"]),
            json.dumps(doc["metadata"]),
            record.vendor_data,
            json.dumps(doc["vifs"]),
            json.dumps(doc["security_groups"]),
            record.imds_tokens,
        )

    def _record(self, row: tuple[Any, ...]) -> model.InstanceRecord:
        uuid = row[0]
        try:
            record = codec.from_dict(
                {
                    "uuid": uuid,
                    "name": row[1],
                    "hostname": row[2],
                    "project_id": row[3],
                    "availability_zone": row[4],
                    "launch_index": row[5],
                    "flavor": row[6],
                    "key_pairs": json.loads(row[8]),
                    "metadata": json.loads(row[9]),
                    "vendor_data": None if row[10] is None else json.loads(row[10]),
                    "vifs": json.loads(row[11]),
                    "security_groups": json.loads(row[12]),
                    "imds_tokens": row[13],
                }
            )
            # User data is a BLOB, bypassing base64: rebuild with it.
            return dataclasses.replace(record, user_data=row[7])
        except (model.InvalidRecord, ValueError, TypeError) as exc:
            raise StoreError(
                f"{self.path}: instance {uuid!r}: stored record is invalid: {exc} "
                "(remove it with `ovnmeta instance rm` and register it again)"
            ) from exc

    # --- API ----------------------------------------------------------------------------------

    def add(self, record: model.InstanceRecord, *, replace: bool = False) -> model.InstanceRecord:
        """Register an instance; with `replace`, overwrite it but keep its password."""
        now = time.time()
        with self._write(f"add instance {record.uuid}") as conn:
            exists = conn.execute(
                "SELECT 1 FROM instances WHERE uuid = ?", (record.uuid,)
            ).fetchone()
            if exists and not replace:
                raise UsageError(
                    f"instance {record.uuid}: already registered (use `ovnmeta instance update` "
                    "or replace=True)"
                )
            if exists:  # password and created_at survive a re-registration
                conn.execute(_UPDATE, (*self._row(record)[1:], now, record.uuid))
            else:
                conn.execute(
                    f"INSERT INTO instances ({_COLUMNS}, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*self._row(record), now, now),
                )
        logger.info(
            "registered instance %s (%s, project %s)", record.uuid, record.name, record.project_id
        )
        return record

    def get(self, uuid: str) -> model.InstanceRecord | None:
        """The record, or None (also for strings that are not UUIDs)."""
        try:
            key = model.canonical_uuid(uuid)
        except model.InvalidRecord:
            return None
        with self._read(f"read instance {key}") as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM instances WHERE uuid = ?", (key,)
            ).fetchone()
        return None if row is None else self._record(row)

    def created_at(self, uuid: str) -> float | None:
        """When the instance was first registered (unix s): the identity's pendingTime."""
        try:
            key = model.canonical_uuid(uuid)
        except model.InvalidRecord:
            return None
        with self._read(f"read instance {key}") as conn:
            row = conn.execute("SELECT created_at FROM instances WHERE uuid = ?", (key,)).fetchone()
        return None if row is None else float(row[0])

    def require(self, uuid: str) -> model.InstanceRecord:
        record = self.get(uuid)
        if record is None:
            raise UnknownInstance(f"instance {uuid!r}: not registered in {self.path}")
        return record

    def list(self) -> tuple[model.InstanceRecord, ...]:
        with self._read("list instances") as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM instances ORDER BY name, uuid").fetchall()
        return tuple(self._record(row) for row in rows)

    def update(self, uuid: str, /, **changes: Any) -> model.InstanceRecord:
        """Replace some fields (names as in InstanceRecord) in one transaction; uuid is fixed."""
        if "uuid" in changes:
            raise UsageError("update: the uuid of an instance cannot change")
        unknown = set(changes) - {f.name for f in dataclasses.fields(model.InstanceRecord)}
        if unknown:
            raise UsageError(f"update: unknown fields {sorted(unknown)!r}")
        key = self.require(uuid).uuid
        with self._write(f"update instance {key}") as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM instances WHERE uuid = ?", (key,)
            ).fetchone()
            if row is None:
                raise UnknownInstance(f"instance {uuid!r}: not registered in {self.path}")
            record = dataclasses.replace(self._record(row), **changes)  # validates again
            conn.execute(_UPDATE, (*self._row(record)[1:], time.time(), key))
        logger.info("updated instance %s (%s)", key, ", ".join(sorted(changes)))
        return record

    def remove(self, uuid: str, *, missing_ok: bool = False) -> bool:
        """Delete an instance; False (or UnknownInstance) when it was not there."""
        try:
            key = model.canonical_uuid(uuid)
        except model.InvalidRecord as exc:
            raise UnknownInstance(f"instance {uuid!r}: {exc}") from None
        with self._write(f"remove instance {key}") as conn:
            gone = conn.execute("DELETE FROM instances WHERE uuid = ?", (key,)).rowcount
        if not gone and not missing_ok:
            raise UnknownInstance(f"instance {uuid!r}: not registered in {self.path}")
        if gone:
            logger.info("removed instance %s", key)
        return bool(gone)

    def get_password(self, uuid: str) -> str | None:
        """The stored password ('' when unset), or None when the instance is gone."""
        with self._read(f"read password of {uuid}") as conn:
            row = conn.execute("SELECT password FROM instances WHERE uuid = ?", (uuid,)).fetchone()
        return None if row is None else row[0]

    def set_password(self, uuid: str, password: str) -> PasswordResult:
        """Nova's POST rule, atomically: only when none is set yet (no cache window here)."""
        if len(password) > MAX_PASSWORD_CHARS:
            raise UsageError(f"password: over {MAX_PASSWORD_CHARS} characters")
        with self._write(f"set password of {uuid}") as conn:
            changed = conn.execute(
                "UPDATE instances SET password = ?, updated_at = ? "
                "WHERE uuid = ? AND password = ''",
                (password, time.time(), uuid),
            ).rowcount
            if changed:
                return PasswordResult.STORED
            exists = conn.execute("SELECT 1 FROM instances WHERE uuid = ?", (uuid,)).fetchone()
        return PasswordResult.CONFLICT if exists else PasswordResult.GONE

    def clear_password(self, uuid: str) -> None:
        """What Nova does through the compute API (`nova clear-password`)."""
        key = self.require(uuid).uuid
        with self._write(f"clear password of {key}") as conn:
            conn.execute("UPDATE instances SET password = '' WHERE uuid = ?", (key,))
