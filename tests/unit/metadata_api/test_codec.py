import json

import pytest

from ovnmeta.metadata_api import codec, model

from .conftest import build_record


def test_round_trip_through_json():
    record = build_record(user_data=b"\x00\xff", vendor_data='{"a": [1]}')
    doc = json.loads(json.dumps(codec.to_dict(record)))
    assert doc["user_data_b64"] == "AP8="
    assert doc["user_data_bytes"] == 2
    assert codec.from_dict(doc) == record


def test_show_without_user_data():
    assert "user_data_b64" not in codec.to_dict(build_record(), user_data=False)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(uuid=5), "uuid"),
        (lambda d: d.update(metadata=["x"]), "metadata"),
        (lambda d: d.update(key_pairs="k"), "key_pairs"),
        (lambda d: d.update(key_pairs=[7]), "key pair"),
        (
            lambda d: d.update(vifs=[{"mac": "fa:16:3e:00:00:01", "fixed_ips": [{"address": 1}]}]),
            "fixed ip",
        ),
        (lambda d: d.update(user_data_b64="***"), "not valid base64"),
        (lambda d: d.update(user_data_b64="A" * 70000), "Nova's limit"),
        (lambda d: d.update(launch_index="1"), "launch_index"),
    ],
)
def test_hostile_json_is_rejected_with_the_field_named(mutate, message):
    doc = codec.to_dict(build_record())
    mutate(doc)
    with pytest.raises(model.InvalidRecord, match=message):
        codec.from_dict(doc)


def test_not_an_object():
    with pytest.raises(model.InvalidRecord, match="JSON object"):
        codec.from_dict([])


def test_empty_lists_survive_the_round_trip():
    record = build_record(security_groups=(), key_pairs=(), vifs=(), metadata=())
    assert codec.from_dict(codec.to_dict(record)) == record


def test_missing_security_groups_default_like_nova():
    doc = codec.to_dict(build_record())
    del doc["security_groups"]
    assert codec.from_dict(doc).security_groups == ("default",)
