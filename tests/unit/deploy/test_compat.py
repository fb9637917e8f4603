"""The legacy command names route to `ovnmeta agent` (deployment.md sections 1 and 6)."""

import sys

from ovnmeta import cli


def test_neutron_ovn_metadata_agent_is_ovnmeta_agent(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "main", lambda argv=None: seen.append(argv) or 0)
    monkeypatch.setattr(sys, "argv", ["neutron-ovn-metadata-agent", "--config-dir", "/etc/x"])
    assert cli.neutron_main() == 0
    assert seen == [["agent", "--config-dir", "/etc/x"]]
