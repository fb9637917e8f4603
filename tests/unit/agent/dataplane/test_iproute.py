"""dataplane/iproute.py: pyroute2's IPRoute without the rest of its package, in a fresh
interpreter each (what is imported is the point)."""

import subprocess
import sys

import pytest


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_iproute_comes_without_the_families_the_agent_does_not_use():
    out = run(
        "import sys\n"
        "from ovnmeta.agent.dataplane import apply, iproute\n"
        "from pyroute2.iproute.linux import IPRoute\n"
        "print(iproute.IPRoute is IPRoute)\n"
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('pyroute2.')}))\n"
    )
    same, families = out.splitlines()
    assert same == "True"
    for family in ("ndb", "ipdb", "nftables", "conntrack", "plan9", "ipset"):
        assert f"'{family}'" not in families


@pytest.mark.parametrize("name", ["NDB", "IPRoute", "__version__"])
def test_the_rest_of_pyroute2_is_there_for_whoever_asks(name):
    out = run(
        "import sys\n"
        "from ovnmeta.agent.dataplane import iproute\n"
        f"from pyroute2 import {name}\n"
        "import pyroute2\n"
        "print('pyroute2.ndb' in sys.modules, pyroute2.IPRoute is iproute.IPRoute)\n"
    )
    assert out == "True True"


def test_a_name_pyroute2_does_not_have_is_an_attribute_error():
    out = run(
        "from ovnmeta.agent.dataplane import iproute\n"
        "import pyroute2\n"
        "print(hasattr(pyroute2, 'NoSuchThing'), hasattr(pyroute2, 'NDB'))\n"
    )
    assert out == "False True"


def test_an_already_imported_pyroute2_is_used_as_it_is():
    out = run(
        "import pyroute2\n"
        "from ovnmeta.agent.dataplane import iproute\n"
        "print(iproute.IPRoute is pyroute2.IPRoute)\n"
    )
    assert out == "True"
