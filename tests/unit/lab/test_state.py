import pytest

from ovnmeta.core.errors import LabError
from ovnmeta.lab.state import InstanceRecord, LabState, NetworkRecord, load, save


def test_state_round_trips(tmp_path):
    st = LabState(prefix="lab1", controllers=3, computes=2, phase="up")
    st.networks["a"] = NetworkRecord("a", "net-uuid", "proj", ["10.0.0.0/24"], True, "p", "m")
    st.instances["vm1"] = InstanceRecord(
        "vm1",
        "vm-uuid",
        "port",
        "a",
        "cmp1",
        "proj",
        "fa:16:3e:00:00:01",
        ["10.0.0.10"],
        "lab1-vm-vm1",
        "vif-0",
        {"ip": "10.0.0.10"},
    )
    save(tmp_path, st)
    assert load(tmp_path) == st
    assert st.networks["a"].switch == "neutron-net-uuid"


def test_missing_state_is_none_and_corrupt_state_is_a_clear_error(tmp_path):
    assert load(tmp_path) is None
    (tmp_path / "lab.json").write_text("{not json")
    with pytest.raises(LabError, match="lab down"):
        load(tmp_path)
