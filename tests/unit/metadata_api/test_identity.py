"""The identity document and the /dynamic/ tree (pure)."""

import json

import pytest

from ovnmeta.metadata_api import identity, paths

from .conftest import PROJECT, build_record


@pytest.mark.parametrize(
    ("path", "rest"),
    [
        ("/latest/dynamic", ()),
        ("/latest/dynamic/", ()),
        ("/latest/dynamic/instance-identity/document", ("instance-identity", "document")),
        ("/2009-04-04/dynamic/instance-identity/", ("instance-identity",)),
        ("/ec2/latest/dynamic/x", ("x",)),
    ],
)
def test_dynamic_routes(path, rest):
    assert paths.route(path) == paths.Dynamic(rest)


def test_unknown_version_is_not_dynamic():
    assert not isinstance(paths.route("/1999-01-01/dynamic/"), paths.Dynamic)
    assert not isinstance(paths.route("/openstack/latest/dynamic"), paths.Dynamic)


@pytest.mark.parametrize(
    ("rest", "answer"),
    [
        ((), identity.Listing("instance-identity/")),
        (("instance-identity",), identity.Listing("document\npkcs7\nrsa2048\nsignature")),
        (("instance-identity", "pkcs7"), identity.Leaf("pkcs7")),
        (("instance-identity", "nope"), None),
        (("instance-identity", "document", "x"), None),
        (("other",), None),
    ],
)
def test_resolve_with_a_key(rest, answer):
    assert identity.resolve(rest, enabled=True) == answer


@pytest.mark.parametrize("rest", [(), ("instance-identity",), ("instance-identity", "document")])
def test_nothing_exists_without_a_key(rest):
    assert identity.resolve(rest, enabled=False) is None


def test_document_fields():
    record = build_record()
    doc = json.loads(identity.document(record, "RegionOne", "2026-12-01T22:01:37Z"))
    assert doc["accountId"] == PROJECT
    assert doc["instanceId"] == "i-" + record.uuid.replace("-", "")[:8]
    assert doc["region"] == "RegionOne" and doc["availabilityZone"] == "nova"
    assert doc["instanceType"] == record.flavor and doc["imageId"] == "ami-00000001"
    assert doc["privateIp"] == record.vifs[0].fixed_ips[0].address
    assert (doc["pendingTime"], doc["version"]) == ("2026-12-01T22:01:37Z", "2017-09-30")


def test_document_is_deterministic():
    record = build_record()
    assert identity.document(record, "r", "t") == identity.document(record, "r", "t")


def test_pending_time_is_utc_to_the_second():
    assert identity.pending_time(1_800_000_000.7) == "2027-01-15T08:00:00Z"
