from ovnmeta.agent.sb import registration as r


def test_contract_ids():
    assert str(r.chassis_uuid("ovnlab-chassis1")) == "7b2470a4-faae-56e6-8495-6f1a6f550c52"
    assert r.agent_id("ovnlab-chassis1") == "9a38673b-3016-5461-8724-1f5dad9e768b"
    assert r.agent_id("5a44c4f2-1111-4222-8333-444455556666") == (
        "89d8a18d-afd8-5542-830b-af5112e3c176"
    )


def test_jitter_bounds():
    assert r.max_jitter_s(75) == 10
    assert r.max_jitter_s(3) == 3


def test_first_write_immediate_then_jittered_and_never_twice():
    hb = r.Heartbeat(jitter=lambda: 7.0)
    assert hb.observe(5) == 0.0
    assert hb.due() == 5
    hb.done(5)
    assert hb.observe(5) is None  # unchanged nb_cfg: no write (no amplification)
    assert hb.observe(6) == 7.0
    assert hb.observe(7) is None  # a burst coalesces: the pending write takes the latest
    assert hb.due() == 7
    hb.done(7)
    assert hb.due() is None
