"""Per-instance session-token mode in the embedded API, through a real server on loopback."""

import pytest

from ovnmeta.core.signing import TOKEN_STATE_HEADER, TOKEN_STATE_SIGNATURE, sign_token_state
from ovnmeta.metadata_api import store

from .conftest import SECRET, UUID, build_record
from .httpserver import ServerThread
from .test_app import CONFIG, GOOD


def state(value, secret=SECRET, instance=UUID):
    return {
        TOKEN_STATE_HEADER: value,
        TOKEN_STATE_SIGNATURE: sign_token_state(secret, instance, value),
    }


def _server(tmp_path, mode):
    with store.InstanceStore(tmp_path / "instances.sqlite3") as s:
        s.add(build_record(imds_tokens=mode))
        with ServerThread(CONFIG, s) as srv:
            yield srv


@pytest.fixture
def required(tmp_path):
    yield from _server(tmp_path, "required")


@pytest.fixture
def optional(tmp_path):
    yield from _server(tmp_path, "optional")


PATHS = ["/latest/meta-data/instance-id", "/openstack/latest/meta_data.json", "/latest/nope"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "extra",
    [
        {},
        state("absent"),
        {TOKEN_STATE_HEADER: "valid"},
        {**state("valid"), TOKEN_STATE_HEADER: "absent"},
        state("valid", secret="other"),
        state("valid", instance="0b7c2f0e-5a51-4c1e-9d1c-3f4b8a0e9f11"),
    ],
    ids=["no-state", "absent", "unsigned", "swapped", "other-secret", "other-instance"],
)
def test_required_instance_without_a_valid_token_is_401(required, path, extra):
    reply = required.request("GET", path, {**GOOD, **extra})
    assert reply.status == 401
    assert b"session token" in reply.body


@pytest.mark.parametrize("path", PATHS[:2])
def test_required_instance_with_a_valid_token_is_served(required, path):
    assert required.request("GET", path, {**GOOD, **state("valid")}).status == 200


def test_header_checks_come_first(required):
    assert required.request("GET", PATHS[0], {**GOOD, "X-Instance-ID-Signature": "x"}).status == 403


def test_optional_instance_ignores_the_token_state(optional):
    assert optional.request("GET", PATHS[0], GOOD).status == 200
    assert optional.request("GET", PATHS[0], {**GOOD, **state("absent")}).status == 200
