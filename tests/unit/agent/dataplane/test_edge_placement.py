from ovnmeta.agent.dataplane import edge_placement as ep
from ovnmeta.agent.dataplane.haproxy_conf import Frontend


def fe(n: int, ipv6: bool = False) -> Frontend:
    return Frontend(f"net{n}", f"ovnmeta-net{n}", f"i{n}", ipv6)


def by_net(*fes: Frontend) -> dict:
    return {f.network: f for f in fes}


def test_a_new_network_goes_to_young_and_main_is_kept():
    main = by_net(fe(1), fe(2))
    placed = ep.place(main, {}, by_net(fe(1), fe(2), fe(3)))
    assert placed.main == main and placed.young == by_net(fe(3))


def test_young_keeps_what_it_serves():
    placed = ep.place(by_net(fe(1)), by_net(fe(2)), by_net(fe(1), fe(2), fe(3)))
    assert placed.main == by_net(fe(1)) and placed.young == by_net(fe(2), fe(3))


def test_a_changed_network_moves_from_main_to_young():
    placed = ep.place(by_net(fe(1), fe(2)), {}, by_net(fe(1), fe(2, ipv6=True)))
    assert placed.main == by_net(fe(1)) and placed.young == by_net(fe(2, ipv6=True))


def test_removed_networks_leave_both_shards():
    placed = ep.place(by_net(fe(1), fe(2)), by_net(fe(3)), by_net(fe(2)))
    assert placed.main == by_net(fe(2)) and placed.young == {}


def test_a_network_in_both_shards_stays_in_main_only():
    placed = ep.place(by_net(fe(1)), by_net(fe(1)), by_net(fe(1)))
    assert placed.main == by_net(fe(1)) and placed.young == {}


def test_merged_takes_young_as_still_wanted():
    wanted = by_net(fe(1), fe(2), fe(3, ipv6=True))
    main = ep.merged(by_net(fe(1)), by_net(fe(2), fe(3), fe(4)), wanted)
    assert main == by_net(fe(1), fe(2))  # 3 changed since, 4 removed since: not moved


def test_merge_due_when_young_is_quiet_or_large():
    assert not ep.merge_due(0, 100.0)
    assert not ep.merge_due(1, ep.MERGE_IDLE_S / 2)
    assert ep.merge_due(1, ep.MERGE_IDLE_S)
    assert ep.merge_due(ep.YOUNG_MAX, 0.0)
