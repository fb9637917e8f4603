import pytest

from ovnmeta.core.errors import UsageError
from ovnmeta.metadata_api import model

from .conftest import PUBKEY, UUID, build_record


def test_uuid_is_stored_in_canonical_lowercase_form():
    assert build_record(uuid=UUID.upper()).uuid == UUID


@pytest.mark.parametrize(
    "uuid", ["", "not-a-uuid", "b65cee2f8c694aebbe2ff79742548fc2", "{" + UUID + "}", "x" * 5000]
)
def test_malformed_uuid_is_rejected(uuid):
    with pytest.raises(model.InvalidRecord, match="uuid"):
        build_record(uuid=uuid)


def test_invalid_record_is_a_usage_error():
    assert issubclass(model.InvalidRecord, UsageError)


def test_binary_user_data_is_kept_byte_for_byte():
    data = bytes(range(256)) * 10  # not UTF-8, like gzip-compressed user data
    assert build_record(user_data=data).user_data == data


def test_empty_user_data_means_none():
    assert build_record(user_data=b"").user_data is None


def test_user_data_at_novas_limit_is_accepted_and_one_byte_more_is_not():
    assert len(build_record(user_data=b"x" * model.MAX_USER_DATA_BYTES).user_data) == 49149
    with pytest.raises(model.InvalidRecord, match="over Nova's limit of 49149 bytes"):
        build_record(user_data=b"x" * (model.MAX_USER_DATA_BYTES + 1))


def test_user_data_must_be_bytes():
    with pytest.raises(model.InvalidRecord, match="must be bytes"):
        build_record(user_data="#cloud-config")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "must not be empty"),
        ("name", "x" * 256, "256 characters long"),
        ("name", "bad\udcff", "not valid UTF-8"),  # what argv gives for undecodable bytes
        ("name", "line\nbreak", "control characters"),
        ("project_id", "", "must not be empty"),
        ("hostname", "under_score", "valid host name"),
        ("hostname", "-lead", "valid host name"),
        ("hostname", "a" * 64, "valid host name"),
        ("availability_zone", "z" * 300, "300 characters"),
        ("launch_index", -1, "small integer"),
        ("security_groups", ("ok", "bad\x00"), "control characters"),
    ],
)
def test_hostile_text_fields_are_rejected(field, value, message):
    with pytest.raises(model.InvalidRecord, match=message):
        build_record(**{field: value})


def test_metadata_is_sorted_and_bounded_like_nova():
    record = build_record(metadata=(("b", "2"), ("a", "1")))
    assert record.metadata == (("a", "1"), ("b", "2"))
    assert build_record(metadata={"k": "v"}).meta == {"k": "v"}
    with pytest.raises(model.InvalidRecord, match="129 items"):
        build_record(metadata=tuple((f"k{i}", "v") for i in range(129)))
    with pytest.raises(model.InvalidRecord, match=r"value.*256 characters"):
        build_record(metadata=(("k", "v" * 256),))
    with pytest.raises(model.InvalidRecord, match="duplicate key"):
        build_record(metadata=(("k", "1"), ("k", "2")))


def test_key_pairs_are_checked():
    with pytest.raises(model.InvalidRecord, match="OpenSSH"):
        model.KeyPair("k", "not a key")
    with pytest.raises(model.InvalidRecord, match="not base64"):
        model.KeyPair("k", "ssh-rsa !!!notbase64")
    with pytest.raises(model.InvalidRecord, match="name may only use"):
        model.KeyPair("k/../x", PUBKEY)
    with pytest.raises(model.InvalidRecord, match="control characters"):
        model.KeyPair("k", PUBKEY + "\nssh-rsa AAAA injected")
    with pytest.raises(model.InvalidRecord, match="duplicate key pair names"):
        build_record(key_pairs=(model.KeyPair("k", PUBKEY), model.KeyPair("k", PUBKEY)))


def test_vendor_data_is_canonical_json_object_list_or_string():
    assert build_record(vendor_data='{"b": 1,  "a": 2}').vendor_data == '{"a": 2, "b": 1}'
    with pytest.raises(model.InvalidRecord, match="not valid JSON"):
        build_record(vendor_data="{")
    with pytest.raises(model.InvalidRecord, match="object, list or string"):
        build_record(vendor_data="42")


def test_network_values_are_checked():
    with pytest.raises(model.InvalidRecord, match="MAC"):
        model.Vif(mac="FA:16:3E:00:00:01")
    with pytest.raises(model.InvalidRecord, match="mtu"):
        model.Vif(mac="fa:16:3e:00:00:01", mtu=10)
    with pytest.raises(model.InvalidRecord, match="not an IP address"):
        model.FixedIp("10.0.0.300", 24)
    with pytest.raises(model.InvalidRecord, match="not an IPv4 address"):
        model.FixedIp("10.0.0.3", 24, gateway="fd00::1")
    with pytest.raises(model.InvalidRecord, match="mode 'slaac'"):
        model.FixedIp("10.0.0.3", 24, mode="slaac")
    with pytest.raises(model.InvalidRecord, match="prefix length"):
        model.FixedIp("10.0.0.3", 33)
    vif = model.Vif(mac="fa:16:3e:00:00:01")
    with pytest.raises(model.InvalidRecord, match="duplicate MAC"):
        build_record(vifs=(vif, vif))


@pytest.mark.parametrize(
    ("name", "hostname"),
    [("VM 1", "vm-1"), ("web_server.example", "web-server-example"), ("!!!", "instance")],
)
def test_hostname_from_name(name, hostname):
    assert model.hostname_from_name(name) == hostname
    build_record(hostname=model.hostname_from_name(name))
