import pytest

from ovnmeta.metadata_api import validate

from .conftest import PROJECT, SECRET, SIGNATURE, UUID, build_record

MISSING_ID = validate.Rejected(400, "X-Instance-ID header is missing from request.")
MISSING_SIG = validate.Rejected(400, "X-Instance-ID-Signature header is missing from request.")
MISSING_TENANT = validate.Rejected(400, "X-Tenant-ID header is missing from request.")


def _status(instance_id, signature, tenant, secret=SECRET):
    outcome = validate.check_headers(instance_id, signature, tenant, secret=secret)
    return None if outcome is None else (outcome.status, outcome.explanation)


@pytest.mark.parametrize(
    ("instance_id", "signature", "tenant", "expected"),
    [
        pytest.param(None, None, None, MISSING_ID, id="no-headers-reports-instance-id-first"),
        pytest.param(None, SIGNATURE, PROJECT, MISSING_ID, id="no-instance-id"),
        pytest.param(UUID, None, None, MISSING_SIG, id="signature-before-tenant"),
        pytest.param(UUID, None, PROJECT, MISSING_SIG, id="no-signature"),
        pytest.param(UUID, "bad", None, MISSING_TENANT, id="tenant-before-signature-check"),
        pytest.param(UUID, SIGNATURE, None, MISSING_TENANT, id="no-tenant"),
        pytest.param(UUID, "0" * 64, PROJECT, 403, id="wrong-signature"),
        pytest.param(UUID, SIGNATURE.upper(), PROJECT, 403, id="uppercase-hex"),
        pytest.param(UUID, SIGNATURE + "\n", PROJECT, 403, id="trailing-newline"),
        pytest.param(UUID, "", PROJECT, 403, id="empty-signature-is-present-but-wrong"),
        pytest.param("", "", PROJECT, 403, id="empty-instance-id"),
        pytest.param(UUID + "\udcff", SIGNATURE, PROJECT, 403, id="undecodable-instance-id"),
        pytest.param(UUID, "\udcff" * 64, PROJECT, 403, id="undecodable-signature"),
        pytest.param(UUID, SIGNATURE, PROJECT, None, id="valid"),
        pytest.param(UUID, SIGNATURE, "", None, id="tenant-is-checked-later"),
    ],
)
def test_header_checks_in_novas_order(instance_id, signature, tenant, expected):
    outcome = validate.check_headers(instance_id, signature, tenant, secret=SECRET)
    if expected is None or isinstance(expected, validate.Rejected):
        assert outcome == expected
    else:
        assert outcome is not None
        assert (outcome.status, outcome.explanation) == (
            expected,
            "Invalid proxy request signature.",
        )


def test_empty_secret_still_validates_with_an_empty_key():
    empty_key_sig = "988ce0432879b2da725247b4a4c1a9ea78966115a19bcd11de5389b1e37c0fed"
    assert validate.check_headers(UUID, empty_key_sig, PROJECT, secret="") is None
    assert validate.check_headers(UUID, SIGNATURE, PROJECT, secret="").status == 403


def test_rejection_log_never_contains_the_expected_signature():
    outcome = validate.check_headers(
        UUID, "f" * 64, PROJECT, secret=SECRET, forwarded_for="10.0.0.9"
    )
    assert SIGNATURE not in outcome.log and SECRET not in outcome.log
    assert "10.0.0.9" in outcome.log


def test_unknown_instance_and_foreign_tenant_look_the_same():
    unknown = validate.check_owner(None, UUID, PROJECT)
    foreign = validate.check_owner(build_record(), UUID, "someone-else")
    assert (unknown.status, unknown.explanation) == (foreign.status, foreign.explanation)
    assert unknown.status == 404
    assert validate.check_owner(build_record(), UUID, PROJECT) is None


@pytest.mark.parametrize(
    ("header", "key"),
    [(UUID, UUID), (UUID.upper(), UUID), ("nope", None), ("", None), ("x" * 10000, None)],
)
def test_lookup_key(header, key):
    assert validate.lookup_key(header) == key
