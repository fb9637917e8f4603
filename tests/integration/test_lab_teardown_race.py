"""A teardown while the agent is busy provisioning leaves nothing behind (issue 15).

The agent starts its edge haproxy, which detaches into a session of its own, when its first
network is provisioned. A teardown that scanned for processes once could stop the agent and
miss an edge started during the agent's drain: haproxy kept running, bound in a namespace that
no longer had a name. Each round binds several networks at once and tears down at once, so
the teardown overlaps the agent's provisioning and the edge's start.
"""

import pytest

from ovnmeta.lab import leaks
from ovnmeta.lab.lab import Lab, lab_root

from .labkit import unique_prefix

pytestmark = pytest.mark.lab

ROUNDS = 4
NETWORKS = 6


def _of(lab: Lab) -> list[leaks.Leftover]:
    return [x for x in leaks.scan(lab_root()) if lab.prefix in x.name or str(lab.dir) in x.what]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_teardown_during_provisioning_leaves_no_process_namespace_or_file(round_):
    lab = Lab(unique_prefix())
    try:
        lab.up(controllers=1, computes=1)
        for i in range(NETWORKS):
            lab.create_network(f"n{i}", [f"10.{i}.0.0/24"])
        for i in range(NETWORKS):
            lab.bind_vif(f"n{i}", i)
        lab.down()  # the agent is still provisioning: the edge starts during its drain
        assert _of(lab) == []
    finally:
        lab.down()
