import pytest

from ovnmeta.agent.sb import rows
from ovnmeta.core.model import MetadataPort, Vif


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ((), (None, ())),
        (("unknown",), (None, ())),
        (
            ("fa:16:3E:11:22:33 10.0.0.11 fd00::0011",),
            ("fa:16:3e:11:22:33", ("10.0.0.11", "fd00::11")),
        ),
        (("fa:16:3e:11:22:33 10.0.0.11", "unknown"), ("fa:16:3e:11:22:33", ("10.0.0.11",))),
        (("fa:16:3e:11:22:33",), ("fa:16:3e:11:22:33", ())),
        (("not-a-mac 10.0.0.11",), (None, ())),
        (("fa:16:3e:11:22:33 dynamic",), ("fa:16:3e:11:22:33", ())),
    ],
    ids=["empty", "unknown", "v4-v6", "trailing-unknown", "mac-only", "bad-mac", "dynamic"],
)
def test_mac_column(column, expected):
    assert rows.parse_mac_column(column) == expected


def test_vif_row_to_model():
    row = rows.PortBindingRow(
        "u1",
        "lp1",
        "",
        "dp1",
        ("fa:16:3e:00:00:01 10.0.0.11",),
        ("ch1", "ch9"),
        ("ch2",),
        {"neutron:device_id": "i1", "neutron:project_id": "p1"},
    )
    port = rows.to_port(row)
    assert isinstance(port, Vif)
    assert port.chassis == ("ch1",)  # at most one chassis
    assert port.additional_chassis == frozenset({"ch2"})
    assert (port.device_id, port.project_id) == ("i1", "p1")
    assert port.is_local("ch2") and port.is_local("ch1") and not port.is_local("ch3")


def test_metadata_port_needs_distributed_owner():
    ext = {
        "neutron:device_owner": "network:distributed",
        "neutron:cidrs": "10.0.0.2/24",
        "neutron:mtu": "1442",
    }
    port = rows.to_port(
        rows.PortBindingRow(
            "u", "lp", "localport", "dp", ("fa:16:3e:00:00:02 10.0.0.2",), external_ids=ext
        )
    )
    assert port == MetadataPort("u", "lp", "dp", "fa:16:3e:00:00:02", ("10.0.0.2/24",), 1442)
    other = dict(ext, **{"neutron:device_owner": "network:dhcp"})
    assert (
        rows.to_port(rows.PortBindingRow("u", "lp", "localport", "dp", external_ids=other)) is None
    )


@pytest.mark.parametrize("value,mtu", [(None, 0), ("0", 0), ("abc", 0), ("-5", 0), ("9000", 9000)])
def test_mtu(value, mtu):
    assert rows.parse_mtu(value) == mtu


@pytest.mark.parametrize("type_", ["router", "localnet", "patch", "chassisredirect", "virtual"])
def test_other_types_ignored(type_):
    assert rows.to_port(rows.PortBindingRow("u", "lp", type_, "dp")) is None


def test_external_port_is_a_vif():
    assert isinstance(rows.to_port(rows.PortBindingRow("u", "lp", "external", "dp")), Vif)
