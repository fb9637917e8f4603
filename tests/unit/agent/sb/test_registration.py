from ovnmeta.agent.sb import registration as r


def test_contract_ids():
    assert str(r.chassis_uuid("ovnlab-chassis1")) == "7b2470a4-faae-56e6-8495-6f1a6f550c52"
    assert r.agent_id("ovnlab-chassis1") == "9a38673b-3016-5461-8724-1f5dad9e768b"
    assert r.agent_id("5a44c4f2-1111-4222-8333-444455556666") == (
        "89d8a18d-afd8-5542-830b-af5112e3c176"
    )


def test_ovn_agent_ids_are_neutron_ovn_agents():
    # neutron-ovn-agent: uuid5 of its own chassis namespace, then 'ovn_agent' (values computed
    # with neutron 29.0.0's OVNNeutronAgent code)
    assert r.OVN_AGENT.agent_id("ovnlab-chassis1") == "9c967c4a-768d-55b5-a52f-024ea4edc7d4"
    assert r.OVN_AGENT.agent_id("5a44c4f2-1111-4222-8333-444455556666") == (
        "e30c1e28-04e2-55c5-bb64-7c988a63225a"
    )


def test_each_role_removes_exactly_the_other_roles_keys():
    md, ovn = r.METADATA_AGENT, r.OVN_AGENT
    assert {md.id_key, md.sb_cfg_key} <= set(ovn.foreign_keys)
    assert {ovn.id_key, ovn.sb_cfg_key} <= set(md.foreign_keys)
    assert not set(md.foreign_keys) & {md.id_key, md.sb_cfg_key, r.KEY_BRIDGE}
    assert not set(ovn.foreign_keys) & {ovn.id_key, ovn.sb_cfg_key, r.KEY_BRIDGE}
    assert r.role_for("neutron-ovn-agent").agent_type == "OVN Neutron agent"
    assert r.role_for("neutron-ovn-metadata-agent").agent_type == "OVN Metadata agent"


def test_jitter_bounds():
    assert r.max_jitter_s(75) == 10  # upstream's
    assert r.max_jitter_s(30) == 7.5  # half of neutron's 15 s between bumps
    assert r.max_jitter_s(10) == 2.5  # upstream: 3; neutron bumps every 5 s
    assert r.max_jitter_s(3) == 0.5  # upstream: 3, the whole bump interval


def _hb() -> r.Heartbeat:
    return r.Heartbeat(jitter=lambda limit: limit, max_jitter=10)  # always the longest delay


def test_first_write_immediate_then_jittered_and_never_twice():
    hb = _hb()
    assert hb.observe(5, now=0) == 0.0
    assert hb.due() == 5
    hb.done(5)
    assert hb.observe(5, now=1) is None  # unchanged nb_cfg: no write (no amplification)
    assert hb.observe(6, now=30) == 10.0  # upstream's bound (half the interval is 15)
    assert hb.observe(7, now=31) == 0.0  # a bump behind already: catch up at once
    assert hb.due() == 7
    hb.done(7)
    assert hb.due() is None


def test_delay_is_at_most_half_the_shortest_interval_seen():
    hb = _hb()
    assert hb.observe(1, now=100) == 0.0  # the first write
    hb.done(1)
    assert hb.observe(2, now=105) == 2.5  # neutron bumps every 5 s: write within 2.5 s
    hb.done(2)
    assert hb.observe(3, now=165) == 2.5  # a slow poll later: the shortest interval rules
    hb.done(3)


def test_no_delay_until_an_interval_is_known():
    hb = _hb()
    hb.done(4)  # the registration's write (Chassis_Private.nb_cfg)
    assert hb.observe(5, now=50) == 0.0  # nothing seen before: no interval, no delay
    hb.done(5)
    assert hb.observe(6, now=55) == 2.5


def test_a_neutron_bumping_faster_than_the_delay_never_sees_two_behind():
    """neutron (agent_down_time 10) bumps every 5 s; our own agent_down_time is 75 (the
    issue's setup: upstream's 0-10 s jitter showed the agent dead in 3 of 12 polls)."""
    hb = r.Heartbeat(jitter=lambda limit: limit, max_jitter=r.max_jitter_s(75))
    pending: tuple[float, int] | None = None
    for value in range(1, 41):
        now = 5.0 * value
        if pending and pending[0] <= now:
            hb.done(pending[1])
            pending = None
        assert value - (hb.written or 0) <= 1 or value == 1  # what neutron sees as it bumps
        delay = hb.observe(value, now)
        if delay is not None:
            pending = (now + delay, value)
