"""Request targets: origin-form as is, absolute-form to the metadata host served alike."""

import pytest

from ovnmeta.agent.proxy import reply, target


@pytest.mark.parametrize(
    ("raw", "path_qs"),
    [
        ("/openstack/latest/meta_data.json", "/openstack/latest/meta_data.json"),
        ("/latest/meta-data/?a=1&b", "/latest/meta-data/?a=1&b"),
        ("/a%2Fb/../c", "/a%2Fb/../c"),
        ("//double", "//double"),
        ("/x#frag", "/x"),
        ("http://169.254.169.254/openstack/latest/user_data", "/openstack/latest/user_data"),
        ("http://169.254.169.254:80/latest/meta-data/?x=1", "/latest/meta-data/?x=1"),
        ("HTTP://169.254.169.254/a", "/a"),
        ("http://169.254.169.254", "/"),
        ("http://169.254.169.254:", "/"),
        ("http://169.254.169.254?x=1", "/?x=1"),
        ("http://169.254.169.254/%7e/a%2Fb", "/%7e/a%2Fb"),
        ("http://169.254.169.254/a#frag", "/a"),
        ("http://[fe80::a9fe:a9fe]/openstack", "/openstack"),
        ("http://[fe80::a9fe:a9fe]:80/openstack", "/openstack"),
        ("http://[FE80:0:0::A9FE:A9FE]/x", "/x"),
        ("http://[fe80::a9fe:a9fe%25eth0]/x", "/x"),
    ],
    ids=[
        "origin", "origin-query", "origin-raw-escapes", "origin-double-slash", "origin-fragment",
        "absolute-v4", "absolute-v4-port-80", "scheme-case", "no-path", "empty-port",
        "query-no-path", "raw-escapes-kept", "absolute-fragment", "absolute-v6",
        "absolute-v6-port-80", "v6-other-spelling", "v6-zone-id",
    ],
)  # fmt: skip
def test_served_targets_become_origin_form(raw, path_qs):
    assert target.origin_form(raw) == path_qs


@pytest.mark.parametrize(
    "raw",
    [
        "http://10.255.0.11:8775/openstack",
        "http://example.com/latest/meta-data/",
        "http://169.254.169.254:8080/a",
        "http://169.254.169.254:8o/a",
        "http://169.254.169.254.nip.io/a",
        "http://[169.254.169.254]/a",
        "http://fe80::a9fe:a9fe/a",
        "http://[fe80::a9fe:a9fe/a",
        "http://[fe80::a9fe:a9fe]x/a",
        "http://[fe80::1]/a",
        "http://user@169.254.169.254/a",
        "https://169.254.169.254/a",
        "ftp://169.254.169.254/a",
        "169.254.169.254:80",
        "*",
        "",
    ],
    ids=[
        "nova-itself", "other-name", "other-port", "bad-port", "name-lookalike",
        "v4-in-brackets", "v6-without-brackets", "unclosed-bracket", "junk-after-bracket",
        "other-v6", "userinfo", "https", "ftp", "authority-form", "asterisk", "empty",
    ],
)  # fmt: skip
def test_other_targets_get_400(raw):
    answer = target.origin_form(raw)
    assert isinstance(answer, reply.Reply) and answer.status == 400
