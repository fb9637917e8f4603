"""A port whose requested_chassis is here brings its network's rows in before it is bound
(sb/interest.py, issue 14): the SB index holds the datapath and its localport at once, nothing
is served until the port is bound here, and the bind itself needs no condition round."""

from tests.integration.agent.harness import wait_for
from tests.integration.agent.test_agent_lab import guest_served, namespaces, network, start
from tests.integration.agent.test_sb_condition_lab import sb_index


def conditions(node) -> int:
    return node.agent.log.read_text().count("SB condition:")


def test_a_port_requested_here_brings_its_network_in_before_it_is_bound(node):
    ch = start(node)
    net, _dp, vif, _ = network(node)  # not bound: the agent holds nothing of it
    wait_for(lambda: sb_index(node).get("ports") == 0, what="the agent's status")
    node.daemons.sbctl("set", "Port_Binding", vif, f"requested_chassis={ch}")
    wait_for(lambda: sb_index(node) == {"ports": 2, "datapaths": 1}, what="VIF and localport")
    assert f"ovnmeta-{net}" not in namespaces()  # requested is not bound: nothing served
    rounds = conditions(node)
    guest_served(node, ch, net, vif)
    assert conditions(node) == rounds  # the bind changed no condition: its rows were here
