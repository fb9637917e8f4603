import dataclasses
import sqlite3

import pytest

from ovnmeta.core.errors import StoreError, UsageError
from ovnmeta.metadata_api import model, store

from .conftest import UUID, build_record

OTHER = "0b7c2f0e-5a51-4c1e-9d1c-3f4b8a0e9f11"


@pytest.fixture
def db(tmp_path):
    with store.InstanceStore(tmp_path / "instances.sqlite3") as s:
        yield s


def test_add_then_get_round_trips_every_field(db):
    record = build_record(
        user_data=bytes(range(256)),
        vendor_data='{"cloud-init": "#cloud-config\\n"}',
        security_groups=("default", "web"),
        launch_index=3,
    )
    db.add(record)
    assert db.get(UUID) == record
    assert db.get(UUID.upper()) == record
    assert db.get("not-a-uuid") is None
    assert db.get(OTHER) is None


def test_records_survive_reopening(tmp_path):
    path = tmp_path / "i.sqlite3"
    with store.InstanceStore(path) as s:
        s.add(build_record())
    with store.InstanceStore(path, create=False) as s:
        assert s.require(UUID) == build_record()


def test_duplicate_add_is_refused_and_replace_keeps_the_password(db):
    db.add(build_record())
    with pytest.raises(UsageError, match="already registered"):
        db.add(build_record(name="changed"))
    assert db.get(UUID).name == "vm1"
    assert db.set_password(UUID, "secret") is store.PasswordResult.STORED
    db.add(build_record(name="changed"), replace=True)
    assert db.get(UUID).name == "changed"
    assert db.get_password(UUID) == "secret"


def test_list_is_sorted_by_name(db):
    db.add(build_record(uuid=OTHER, name="b"))
    db.add(build_record(name="a"))
    assert [r.name for r in db.list()] == ["a", "b"]


def test_update_validates_and_is_atomic(db):
    db.add(build_record())
    updated = db.update(UUID, name="renamed", metadata=(("k", "v"),), user_data=None)
    assert db.get(UUID) == updated
    assert (updated.name, updated.meta, updated.user_data) == ("renamed", {"k": "v"}, None)
    with pytest.raises(model.InvalidRecord, match="over Nova's limit"):
        db.update(UUID, user_data=b"x" * 50000)
    with pytest.raises(UsageError, match="unknown fields"):
        db.update(UUID, colour="blue")
    with pytest.raises(UsageError, match="cannot change"):
        db.update(UUID, uuid=OTHER)
    assert db.get(UUID) == updated
    with pytest.raises(store.UnknownInstance, match="not registered"):
        db.update(OTHER, name="x")


def test_remove(db):
    db.add(build_record())
    assert db.remove(UUID) is True
    assert db.get(UUID) is None
    assert db.remove(UUID, missing_ok=True) is False
    with pytest.raises(store.UnknownInstance):
        db.remove(UUID)
    with pytest.raises(store.UnknownInstance):
        db.remove("../../etc/passwd")


def test_password_is_set_once(db):
    db.add(build_record())
    assert db.get_password(UUID) == ""
    assert db.set_password(UUID, "p1") is store.PasswordResult.STORED
    assert db.set_password(UUID, "p2") is store.PasswordResult.CONFLICT
    assert db.get_password(UUID) == "p1"
    db.clear_password(UUID)
    assert db.set_password(UUID, "p3") is store.PasswordResult.STORED
    assert db.set_password(OTHER, "p") is store.PasswordResult.GONE
    assert db.get_password(OTHER) is None
    with pytest.raises(UsageError):
        db.set_password(UUID, "x" * 1021)


def test_hostile_registration_stores_nothing(db):
    db.add(build_record(uuid=OTHER))
    with pytest.raises(model.InvalidRecord):
        db.add(build_record(user_data=b"\xff" * 100_000))
    with pytest.raises(model.InvalidRecord):
        db.add(build_record(name="bad\udcff"))
    assert [r.uuid for r in db.list()] == [OTHER]


def test_locked_database_gives_a_clear_error_and_loses_nothing(tmp_path):
    path = tmp_path / "i.sqlite3"
    with store.InstanceStore(path) as s:
        s.add(build_record(uuid=OTHER))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    try:
        with store.InstanceStore(path, timeout_s=0.1) as s:
            with pytest.raises(StoreError, match="database is locked by another process") as err:
                s.add(build_record())
            assert str(err.value).startswith(f"{path}: cannot add instance {UUID}: ")
            assert s.get(OTHER) is not None  # WAL: readers keep working meanwhile
    finally:
        other.execute("ROLLBACK")
        other.close()
    with store.InstanceStore(path) as s:
        assert [r.uuid for r in s.list()] == [OTHER]
        s.add(build_record())
        assert len(s.list()) == 2


@pytest.mark.parametrize(
    "content",
    [b"this is not a database at all\n" * 50, b"SQLite format 3\x00" + b"\xff" * 4096, b"junk"],
    ids=["text", "bad-header", "tiny"],
)
def test_corrupt_file_gives_a_clear_error_and_is_left_untouched(tmp_path, content):
    path = tmp_path / "i.sqlite3"
    path.write_bytes(content)
    with pytest.raises(StoreError, match=r"not a valid SQLite database.*left untouched"):
        store.InstanceStore(path)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.sqlite3"]


def test_foreign_sqlite_database_is_not_touched(tmp_path):
    path = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not an ovnmeta instance store"):
        store.InstanceStore(path)
    assert path.read_bytes() == before


def test_missing_database_without_create(tmp_path):
    with pytest.raises(StoreError, match="no instance store here"):
        store.InstanceStore(tmp_path / "nope.sqlite3", create=False)
    assert not (tmp_path / "nope.sqlite3").exists()


def test_unopenable_path(tmp_path):
    with pytest.raises(StoreError, match=r"cannot open.*directory exist"):
        store.InstanceStore(tmp_path / "no" / "such" / "dir.sqlite3")


def test_tampered_row_gives_a_clear_error(tmp_path):
    path = tmp_path / "i.sqlite3"
    with store.InstanceStore(path) as s:
        s.add(build_record())
    conn = sqlite3.connect(path)
    conn.execute('UPDATE instances SET key_pairs = \'[{"name": "x"}]\'')
    conn.commit()
    conn.close()
    with (
        store.InstanceStore(path) as s,
        pytest.raises(StoreError, match="stored record is invalid"),
    ):
        s.get(UUID)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "i.sqlite3"
    store.InstanceStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        store.InstanceStore(path)


def test_records_are_frozen(db):
    record = db.add(build_record())
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.name = "x"


def test_token_mode_round_trips_and_updates(db):
    db.add(build_record(imds_tokens="required"))
    assert db.require(UUID).imds_tokens == "required"
    assert db.update(UUID, imds_tokens="optional").imds_tokens == "optional"
    with pytest.raises(model.InvalidRecord):
        db.update(UUID, imds_tokens="sometimes")
    assert db.require(UUID).imds_tokens == "optional"


V1_SCHEMA = """
CREATE TABLE instances (
    uuid TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, hostname TEXT NOT NULL,
    project_id TEXT NOT NULL, availability_zone TEXT, launch_index INTEGER NOT NULL,
    flavor TEXT NOT NULL, user_data BLOB, key_pairs TEXT NOT NULL, metadata TEXT NOT NULL,
    vendor_data TEXT, vifs TEXT NOT NULL, security_groups TEXT NOT NULL,
    password TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL, updated_at REAL NOT NULL
) STRICT;
INSERT INTO instances VALUES ('%s', 'vm1', 'vm1', 'p', NULL, 0, 'm1.small', NULL, '[]', '{}',
    NULL, '[]', '["default"]', 'pw', 1.0, 1.0);
PRAGMA user_version = 1;
"""


def test_version_1_store_is_upgraded_in_place_keeping_its_records(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA % UUID)
    conn.close()
    with store.InstanceStore(path) as s:
        assert s.require(UUID).imds_tokens == "optional"
        assert s.get_password(UUID) == "pw"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION == 2
    conn.close()
