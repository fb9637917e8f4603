"""Session tokens: fixed vectors, binding, expiry, and every malformed shape."""

import pytest

from ovnmeta.agent.proxy import tokens

KEY = tokens.key_for("s3cr3t")
BIND = tokens.Binding("b65cee2f-8c69-4aeb-be2f-f79742548fc2", "net-a", "10.0.0.11")
NOW = 1_800_000_000
NONCE = bytes(range(10))
# version 1 | expiry 1800021600 | nonce 00..09 | mac: a change of format breaks every token
# in flight, so it needs a new VERSION.
TOKEN_VECTOR = "AWtKJmAAAQIDBAUGBwgJk9xuaEoOAxNtY_63_nB7KVugY3p1MAHBVaJgJEFn"


def test_key_vector_is_domain_separated_from_the_secret():
    # printf 'ovnmeta imds session token key v1' | openssl dgst -sha256 -hmac s3cr3t
    assert KEY.hex() == "347064de5872f5f24299bdb343b453f81582ffb8768c7c71dee941dc2d73a54c"
    assert tokens.key_for("s3cr3t") == KEY
    assert tokens.key_for("other") != KEY


def test_token_vector():
    token = tokens.mint(KEY, BIND, NOW, 21600, NONCE)
    assert token == TOKEN_VECTOR
    assert len(token) == tokens.TOKEN_CHARS


def test_minted_token_verifies_until_expiry():
    token = tokens.mint(KEY, BIND, NOW, 60, NONCE)
    assert tokens.verify(KEY, token, BIND, NOW) == tokens.Valid(NOW + 60)
    assert tokens.verify(KEY, token, BIND, NOW + 59.9) == tokens.Valid(NOW + 60)
    assert tokens.verify(KEY, token, BIND, NOW + 60) == tokens.Invalid("expired")


def test_another_process_with_the_same_secret_verifies_it():
    # restart or live migration: a fresh key from the same secret, no stored state
    token = tokens.mint(tokens.key_for("s3cr3t"), BIND, NOW, 600, NONCE)
    assert tokens.verify(tokens.key_for("s3cr3t"), token, BIND, NOW + 300) == tokens.Valid(
        NOW + 600
    )


@pytest.mark.parametrize(
    "other",
    [
        tokens.Binding("c65cee2f-8c69-4aeb-be2f-f79742548fc2", "net-a", "10.0.0.11"),
        tokens.Binding(BIND.instance_id, "net-b", "10.0.0.11"),
        tokens.Binding(BIND.instance_id, "net-a", "10.0.0.12"),
        # length prefixes: moving bytes between fields changes the MAC
        tokens.Binding(BIND.instance_id + "n", "et-a", "10.0.0.11"),
    ],
    ids=["other-instance", "other-network", "other-address", "shifted-fields"],
)
def test_token_of_another_binding_is_refused(other):
    token = tokens.mint(KEY, BIND, NOW, 600, NONCE)
    assert tokens.verify(KEY, token, other, NOW) == tokens.Invalid("signature")


def test_other_secret_is_refused():
    token = tokens.mint(tokens.key_for("other"), BIND, NOW, 600, NONCE)
    assert tokens.verify(KEY, token, BIND, NOW) == tokens.Invalid("signature")


def _flip(token: str, i: int) -> str:
    c = "A" if token[i] != "A" else "B"
    return token[:i] + c + token[i + 1 :]


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "size"),
        ("x" * 59, "size"),
        ("x" * 61, "size"),
        ("x" * 10_000, "size"),
        ("!" * 60, "garbage"),
        ("é" * 60, "garbage"),
        ("A" * 59 + "=", "garbage"),
        ("A" * 60, "version"),
    ],
    ids=["empty", "short", "long", "huge", "punctuation", "non-ascii", "padding", "zeros"],
)
def test_malformed_tokens(token, reason):
    assert tokens.verify(KEY, token, BIND, NOW) == tokens.Invalid(reason)


@pytest.mark.parametrize("i", [6, 10, 30, 59])  # expiry, nonce, mac
def test_any_changed_character_is_refused(i):
    token = tokens.mint(KEY, BIND, NOW, 600, NONCE)
    assert tokens.verify(KEY, _flip(token, i), BIND, NOW) == tokens.Invalid("signature")


def test_nonce_must_have_its_size():
    with pytest.raises(ValueError):
        tokens.mint(KEY, BIND, NOW, 600, b"short")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1"], 1),
        (["21600"], 21600),
        ([" 60 "], 60),
        (["00060"], 60),
    ],
)
def test_ttl_accepted(values, expected):
    assert tokens.parse_ttl(values) == expected


@pytest.mark.parametrize(
    "values",
    [[], ["0"], ["21601"], ["-1"], ["+5"], ["1_0"], ["abc"], [""], ["1.5"], ["٣"], ["60", "60"],
     ["99999999999999999999"]],
    ids=["missing", "zero", "above", "negative", "plus", "underscore", "letters", "empty",
         "float", "arabic-digit", "twice", "huge"],
)  # fmt: skip
def test_ttl_refused(values):
    assert isinstance(tokens.parse_ttl(values), tokens.BadTtl)


def test_vector_follows_the_documented_layout():
    """Rebuild TOKEN_VECTOR from the module docstring's layout with hashlib alone."""
    import base64
    import hashlib
    import hmac

    raw = base64.urlsafe_b64decode(TOKEN_VECTOR)
    head = bytes([1]) + (NOW + 21600).to_bytes(4, "big") + NONCE
    assert raw[:15] == head
    fields = b"".join(
        len(v.encode()).to_bytes(2, "big") + v.encode()
        for v in (BIND.instance_id, BIND.network, BIND.address)
    )
    key = hmac.new(b"s3cr3t", b"ovnmeta imds session token key v1", hashlib.sha256).digest()
    assert raw[15:] == hmac.new(key, head + fields, hashlib.sha256).digest()[:30]
