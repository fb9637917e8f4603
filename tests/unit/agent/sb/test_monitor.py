"""A table with a false condition is monitored without its initial dump (sb.monitor): the
server then skips walking its rows; every other request goes out as python-ovs made it."""

from ovnmeta.agent.sb import monitor

PB = ["logical_port", "chassis"]


def test_false_condition_asks_for_no_initial_rows():
    out = monitor.without_empty_initial({"Port_Binding": [{"columns": PB, "where": [False]}]})
    assert out == {
        "Port_Binding": [
            {
                "columns": PB,
                "where": [False],
                "select": {"initial": False, "insert": True, "delete": True, "modify": True},
            }
        ]
    }


def test_other_conditions_and_whole_tables_are_left_as_they_are():
    requests = {
        "Chassis": [{"columns": ["name"], "where": [["name", "==", "own"]]}],
        "SB_Global": [{"columns": ["nb_cfg"]}],
        "Datapath_Binding": [{"columns": ["external_ids"], "where": [False, ["_uuid", "==", 1]]}],
        "Encap": [{"columns": ["ip"], "where": []}],
        "Chassis_Private": [{"columns": ["name"], "where": [True]}],
    }
    assert monitor.without_empty_initial(requests) == requests


def test_a_select_already_given_is_kept():
    given = {"columns": PB, "where": [False], "select": {"initial": True}}
    assert monitor.without_empty_initial({"Port_Binding": [given]}) == {"Port_Binding": [given]}


def test_the_request_python_ovs_made_is_not_changed_in_place():
    request = {"columns": PB, "where": [False]}
    monitor.without_empty_initial({"Port_Binding": [request]})
    assert "select" not in request


def test_is_false():
    assert monitor.is_false([False]) and monitor.is_false([False, False])
    assert not monitor.is_false([]) and not monitor.is_false(None)
    assert not monitor.is_false([True]) and not monitor.is_false([False, ["a", "==", 1]])
