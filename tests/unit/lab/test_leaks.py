"""`ovnmeta lab leaks`: what counts as new since a saved scan."""

from ovnmeta.lab.leaks import Leftover, is_lab_or_agent_namespace, load, new_since, save

EDGE = Leftover("process", "4242", "haproxy -W -D -f /run/ovnmeta/lab/t1/cmp1/agent/edge.cfg")
DEMO_NS = Leftover("namespace", "ovnlab-cmp1", "lab node or agent namespace")


def test_only_what_appeared_since_the_saved_scan_is_a_leak():
    assert new_since([DEMO_NS], [DEMO_NS, EDGE]) == [EDGE]


def test_a_reused_pid_running_another_command_is_new():
    other = Leftover("process", "4242", "ovsdb-server /run/ovnmeta/lab/t2/ctl1/nb.db")
    assert new_since([EDGE], [other]) == [other]


def test_nothing_new_is_no_leak():
    assert new_since([EDGE, DEMO_NS], [DEMO_NS]) == []


def test_a_saved_scan_reads_back_equal(tmp_path):
    path = tmp_path / "before.json"
    save(path, [EDGE, DEMO_NS])
    assert load(path) == [EDGE, DEMO_NS]


def test_each_leftover_is_one_line_naming_what_it_is():
    assert EDGE.line().startswith("process 4242: haproxy -W -D -f /run/ovnmeta/lab/t1/")


def test_any_instance_namespace_of_a_lab_is_seen_even_with_a_name_the_lab_refuses():
    assert is_lab_or_agent_namespace("y1kbig-vm-p1_0")
    assert is_lab_or_agent_namespace("lab1-cmp2")
    assert is_lab_or_agent_namespace("ovnmeta-3f1c")
    assert not is_lab_or_agent_namespace("y1kbig-other")
