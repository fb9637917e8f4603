"""What `make setup` (scripts/setup) puts in the venv beyond pip's packages."""

import ovs.json


def test_python_ovs_parses_json_with_its_c_parser():
    # Pure-Python parsing was most of an agent restart's CPU at 1,000 networks (docs/agent.md)
    parser = ovs.json.Parser()
    assert type(parser).__module__ == "ovs._json", (
        "python-ovs uses its pure-Python JSON parser: run make setup (it links Debian's "
        "python3-openvswitch C parser into .venv)"
    )
