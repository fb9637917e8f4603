"""`ovnmeta demo`: cloud-init's own readers, inside instance namespaces on two networks and
two computes, read exactly what was registered (OpenStack tree and EC2 tree)."""

import re

import pytest

from ovnmeta.lab.lab import Lab

from .labkit import cli, leftovers, unique_prefix

pytestmark = pytest.mark.lab


def test_demo_passes_for_every_instance_and_cleans_up():
    prefix = unique_prefix()
    try:
        proc = cli("demo", "--name", prefix, check=False, timeout=300)
    finally:
        Lab(prefix).down()
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    verdicts = re.findall(r"^  (PASS|FAIL)  (\w+) on (cmp\d)", out, re.M)
    assert [v for v, _, _ in verdicts] == ["PASS"] * 4, out
    assert {c for _, _, c in verdicts} == {"cmp1", "cmp2"}
    for field in ("uuid", "hostname", "keys", "user-data", "network", "ec2"):
        assert len(re.findall(rf"^ +{field} .* == ", out, re.M)) == 4, (field, out)
    assert " != " not in out
    assert "demo PASS: 4/4" in out
    assert leftovers(Lab(prefix)) == []
