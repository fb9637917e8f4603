"""The token gate: one table of requests -> decisions (pure)."""

import ipaddress

import pytest

from ovnmeta.agent.proxy import imds, tokens
from ovnmeta.agent.proxy.lookup import Found
from ovnmeta.agent.proxy.request import Guest

NOW = 1_800_000_000
POLICY = imds.Policy(False, frozenset({"strict-proj"}), tokens.key_for("s3cr3t"))
FOUND = Found("b65cee2f-8c69-4aeb-be2f-f79742548fc2", "proj1", "p1")
STRICT = Found("c65cee2f-8c69-4aeb-be2f-f79742548fc2", "strict-proj", "p2")
GUEST = Guest("net-a", ipaddress.ip_address("10.0.0.11"))
TOKEN = tokens.mint(POLICY.key, imds.binding(FOUND, GUEST), NOW, 60, bytes(10))
EXPIRED = tokens.mint(POLICY.key, imds.binding(FOUND, GUEST), NOW - 61, 60, bytes(10))
TTL = ("21600",)


def decide(method="GET", path="/latest/meta-data/", found=FOUND, **headers):
    return imds.gate(POLICY, method, path, imds.Headers(**headers), found, GUEST, NOW)


def status(gate):
    return gate.reply.status if isinstance(gate, imds.Refuse) else gate


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"method": "PUT", "path": "/latest/api/token", "ttl": TTL}, imds.Mint(21600)),
        ({"method": "PUT", "path": "/latest/api/token/", "ttl": ("1",)}, imds.Mint(1)),
        ({"method": "PUT", "path": "/latest/api/token?x=1", "ttl": ("5",)}, imds.Mint(5)),
        ({"method": "PUT", "path": "/latest/api/token"}, 400),
        ({"method": "PUT", "path": "/latest/api/token", "ttl": ("0",)}, 400),
        ({"method": "PUT", "path": "/latest/api/token", "ttl": TTL, "guest_forwarded": ("1",)},
         403),
        # the forwarded check comes first: a relayed PUT learns nothing about its TTL
        ({"method": "PUT", "path": "/latest/api/token", "guest_forwarded": ("1",)}, 403),
        ({"method": "GET", "path": "/latest/api/token"}, 405),
        ({"method": "POST", "path": "/latest/api/token", "ttl": TTL}, 405),
        # a strict project may still mint: that is how it gets a token
        ({"method": "PUT", "path": "/latest/api/token", "ttl": TTL, "found": STRICT},
         imds.Mint(21600)),
        ({}, imds.Serve("absent")),
        ({"ttl": TTL}, imds.Serve("absent")),  # a TTL on a GET is ignored
        ({"token": (TOKEN,)}, imds.Serve("valid")),
        ({"token": (TOKEN,), "method": "PUT", "path": "/openstack/latest/password"},
         imds.Serve("valid")),
        ({"token": (EXPIRED,)}, 401),
        ({"token": ("garbage",)}, 401),
        ({"token": (TOKEN, TOKEN)}, 401),
        ({"token": (TOKEN,), "found": STRICT}, 401),  # another instance's token
        ({"found": STRICT}, 401),
        ({"found": STRICT, "path": "/"}, 401),
    ],
    ids=[
        "mint", "mint-trailing-slash", "mint-query", "no-ttl", "ttl-zero", "forwarded",
        "forwarded-before-ttl", "get-token-path", "post-token-path", "strict-mints",
        "tokenless-optional", "ttl-on-get", "valid-token", "valid-token-other-method",
        "expired", "garbage", "two-tokens", "others-token", "strict-tokenless", "strict-root",
    ],
)  # fmt: skip
def test_gate(kwargs, expected):
    assert status(decide(**kwargs)) == expected


def test_chassis_default_required():
    policy = imds.Policy(True, frozenset(), POLICY.key)
    gate = imds.gate(policy, "GET", "/", imds.Headers(), FOUND, GUEST, NOW)
    assert isinstance(gate, imds.Refuse) and gate.kind == "token-missing"


def test_policy_repr_hides_the_key():
    assert POLICY.key.hex() not in repr(POLICY) and "projects=1" in repr(POLICY)


def test_token_reply_echoes_the_ttl():
    r = imds.token_reply("t" * 60, 300)
    assert (r.status, dict(r.headers)[tokens.TTL_HEADER], r.body) == (200, "300", b"t" * 60)
