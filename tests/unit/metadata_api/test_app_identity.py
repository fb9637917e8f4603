"""The signed identity document through a real server, verified with `openssl cms -verify`."""

import dataclasses
import json
import subprocess

import pytest

from ovnmeta.core.errors import ConfigError
from ovnmeta.metadata_api import signer, store

from .conftest import PROJECT, UUID, build_record
from .httpserver import ServerThread
from .test_app import CONFIG, GOOD

BASE = "/latest/dynamic/instance-identity/"


@pytest.fixture(scope="module")
def keypair(tmp_path_factory):
    d = tmp_path_factory.mktemp("identity")
    key, cert = d / "key.pem", d / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
         "-out", cert, "-subj", "/CN=ovnmeta identity test", "-days", "2"],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(key), str(cert)


@pytest.fixture
def signed(tmp_path, keypair):
    config = dataclasses.replace(CONFIG, identity_key=keypair[0], identity_cert=keypair[1])
    with store.InstanceStore(tmp_path / "instances.sqlite3") as s:
        s.add(build_record())
        with ServerThread(config, s) as srv:
            yield srv


@pytest.fixture
def unsigned(tmp_path):
    with store.InstanceStore(tmp_path / "instances.sqlite3") as s:
        s.add(build_record())
        with ServerThread(CONFIG, s) as srv:
            yield srv


def pem(body: bytes) -> bytes:
    return b"-----BEGIN PKCS7-----\n" + body + b"\n-----END PKCS7-----\n"


def verify(tmp_path, cert, p7: bytes, content: bytes | None) -> subprocess.CompletedProcess:
    (tmp_path / "p7.pem").write_bytes(pem(p7))
    argv = ["openssl", "cms", "-verify", "-inform", "PEM", "-in", tmp_path / "p7.pem",
            "-CAfile", cert, "-purpose", "any"]  # fmt: skip
    if content is not None:
        (tmp_path / "doc").write_bytes(content)
        argv += ["-content", tmp_path / "doc", "-binary"]
    return subprocess.run(argv, capture_output=True)


def test_dynamic_lists_what_exists(signed):
    assert signed.request("GET", "/latest/dynamic/", GOOD).body == b"instance-identity/"
    assert signed.request("GET", BASE, GOOD).body == b"document\npkcs7\nrsa2048\nsignature"


def test_document(signed):
    reply = signed.request("GET", BASE + "document", GOOD)
    assert (reply.status, reply.content_type) == (200, "application/json")
    doc = json.loads(reply.body)
    assert doc["accountId"] == PROJECT and doc["privateIp"] == "10.0.0.11"
    assert doc["instanceId"] == "i-" + UUID.replace("-", "")[:8]
    assert doc["pendingTime"].endswith("Z")


def test_pkcs7_verifies_against_the_certificate_and_not_for_a_tampered_document(
    signed, keypair, tmp_path
):
    doc = signed.request("GET", BASE + "document", GOOD).body
    p7 = signed.request("GET", BASE + "pkcs7", GOOD).body
    good = verify(tmp_path, keypair[1], p7, doc)
    assert good.returncode == 0, good.stderr
    tampered = doc.replace(PROJECT.encode(), b"someone-else")
    assert verify(tmp_path, keypair[1], p7, tampered).returncode != 0


def test_rsa2048_carries_the_document(signed, keypair, tmp_path):
    doc = signed.request("GET", BASE + "document", GOOD).body
    p7 = signed.request("GET", BASE + "rsa2048", GOOD).body
    out = verify(tmp_path, keypair[1], p7, None)
    assert out.returncode == 0, out.stderr
    assert out.stdout == doc


def test_signature_verifies_with_the_public_key(signed, keypair, tmp_path):
    doc = signed.request("GET", BASE + "document", GOOD).body
    sig = signed.request("GET", BASE + "signature", GOOD).body
    pub = subprocess.run(
        ["openssl", "x509", "-in", keypair[1], "-noout", "-pubkey"], capture_output=True, check=True
    ).stdout
    (tmp_path / "pub.pem").write_bytes(pub)
    subprocess.run(
        ["openssl", "base64", "-d", "-out", tmp_path / "sig"], input=sig + b"\n", check=True
    )
    (tmp_path / "doc").write_bytes(doc)
    argv = ["openssl", "dgst", "-sha256", "-verify", tmp_path / "pub.pem",
            "-signature", tmp_path / "sig"]  # fmt: skip
    assert subprocess.run([*argv, tmp_path / "doc"], capture_output=True).returncode == 0
    (tmp_path / "doc").write_bytes(doc + b" ")
    assert subprocess.run([*argv, tmp_path / "doc"], capture_output=True).returncode != 0


def test_signatures_are_made_once_per_document(signed):
    first = signed.request("GET", BASE + "pkcs7", GOOD).body
    assert signed.request("GET", BASE + "pkcs7", GOOD).body == first  # cached, same bytes


@pytest.mark.parametrize("path", ["/latest/dynamic/", BASE, BASE + "document", BASE + "pkcs7"])
def test_without_a_key_dynamic_is_404(unsigned, path):
    assert unsigned.request("GET", path, GOOD).status == 404


def test_dynamic_needs_the_signed_headers(signed):
    assert signed.request("GET", BASE + "document").status == 400


def test_mismatched_key_and_certificate_stop_start_up(keypair, tmp_path):
    other = tmp_path / "other.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024",
         "-out", other], check=True, capture_output=True,
    )  # fmt: skip
    with pytest.raises(ConfigError, match="not the certificate"):
        signer.Signer(str(other), keypair[1]).check()
    with pytest.raises(ConfigError, match="identity_key"):
        signer.Signer(str(tmp_path / "missing.pem"), keypair[1]).check()
    signer.Signer(*keypair).check()
