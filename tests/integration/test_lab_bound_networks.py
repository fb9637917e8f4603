"""Lab.bound_networks: networks in bulk whose VIFs are OVS dummy interfaces (no kernel
device), claimed by the real ovn-controller and served by the agent like any network, next
to a real guest that fetches its metadata (the bench's 1,000-network set-up)."""

import json

import pytest

from ovnmeta.core.errors import UsageError
from ovnmeta.lab import compute, services
from ovnmeta.lab.proc import wait_until

from .labkit import one_guest_lab, wait_metadata

pytestmark = pytest.mark.lab

BULK = 6


def served(lab) -> int:
    path = services.agent_status_file(lab.dir, lab.topology().compute(1))
    try:
        return sum(1 for n in json.loads(path.read_text())["networks"] if n.get("served"))
    except (OSError, ValueError, KeyError):
        return 0


def test_bound_networks_are_claimed_and_served_and_the_real_guest_still_is():
    with one_guest_lab("home", "vm1") as lab:
        lab.bound_networks([f"b{i}" for i in range(BULK)], 1)
        wait_until(f"{BULK + 1} networks served", lambda: served(lab) >= BULK + 1, 60)
        cmp = lab.topology().compute(1)
        types = compute.vsctl(
            lab.dir, cmp, "--bare", "--columns=type", "list", "Interface", "bp1", "bp6"
        ).split()
        assert types == ["dummy", "dummy"]
        nb = lab.northbound()
        chassis = nb.sbctl("--bare", "--columns=chassis", "find", "Port_Binding", 'type=""')
        assert len(chassis.split()) == BULK + 1  # vm1's VIF and the six dummies, all claimed
        namespaces = lab.run_on_compute(1, ["ip", "netns", "list"]).count("ovnmeta-")
        assert namespaces == BULK + 1
        wait_metadata(lab, "vm1")
        with pytest.raises(UsageError, match="already exist"):
            lab.bound_networks(["b0"], 99)
