"""Admission: bounded slots per agent, network and source; waiters granted fairly."""

import pytest

from ovnmeta.agent.proxy.admission import Admission, Admitted, Limits, Queued, Rejected

NET_A, NET_B, NET_C = "net-a", "net-b", "net-c"


def limits(**kw):
    base = dict(
        in_flight=4,
        in_flight_per_network=3,
        in_flight_per_source=2,
        queued_per_source=5,
        queue_timeout_s=10.0,
    )
    return Limits(**{**base, **kw})


def fill(adm, network, source, n, now=0.0):
    return [adm.arrive(network, source, now) for _ in range(n)]


def test_under_every_bound_admitted_at_once():
    adm = Admission(limits())
    d = adm.arrive(NET_A, "10.0.0.11", 0.0)
    assert isinstance(d, Admitted)
    assert (adm.in_flight(), adm.in_flight(NET_A), adm.in_flight(NET_A, "10.0.0.11")) == (1, 1, 1)


@pytest.mark.parametrize(
    ("arrivals", "queued_last"),
    [
        ([(NET_A, "s1")] * 3, True),  # third of one source: its bound is 2
        ([(NET_A, "s1"), (NET_A, "s2"), (NET_A, "s3"), (NET_A, "s4")], True),  # network: 3
        ([(NET_A, "s1"), (NET_A, "s2"), (NET_B, "s1"), (NET_B, "s2"), (NET_C, "s1")], True),
        ([(NET_A, "s1"), (NET_A, "s2"), (NET_B, "s1"), (NET_B, "s2")], False),
        ([(NET_A, "s1"), (NET_A, "s1"), (NET_A, "s2")], False),
    ],
    ids=["source-bound", "network-bound", "agent-bound", "agent-at-bound", "net-room-left"],
)
def test_the_first_full_bound_queues(arrivals, queued_last):
    adm = Admission(limits())
    decisions = [adm.arrive(n, s, 0.0) for n, s in arrivals]
    assert all(isinstance(d, Admitted) for d in decisions[:-1])
    assert isinstance(decisions[-1], Queued) == queued_last


def test_queued_deadline_is_now_plus_timeout():
    adm = Admission(limits(queue_timeout_s=2.5))
    fill(adm, NET_A, "s1", 2)
    d = adm.arrive(NET_A, "s1", 100.0)
    assert isinstance(d, Queued) and d.deadline == 102.5


def test_full_source_queue_rejected_at_once_with_retry_after():
    adm = Admission(limits(queued_per_source=2))
    fill(adm, NET_A, "s1", 4)  # 2 running, 2 waiting
    d = adm.arrive(NET_A, "s1", 0.0)
    assert d == Rejected("source", retry_after_s=1)
    assert adm.queued(NET_A, "s1") == 2
    assert isinstance(adm.arrive(NET_A, "s2", 0.0), Admitted)  # a neighbour is not affected


def test_release_grants_the_waiter_of_that_source():
    adm = Admission(limits())
    first, _, waiting = fill(adm, NET_A, "s1", 3)
    assert adm.release(first.ticket) == (waiting.ticket,)
    assert adm.in_flight(NET_A, "s1") == 2 and adm.queued() == 0


def test_flood_on_one_network_does_not_delay_another_network():
    """Network A holds every slot with 4 more waiting; B's request takes the next free slot."""
    adm = Admission(limits(in_flight=4, in_flight_per_network=4, in_flight_per_source=4))
    running = fill(adm, NET_A, "hostile", 4)
    flood = fill(adm, NET_A, "hostile", 4)
    victim = adm.arrive(NET_B, "victim", 0.0)
    assert isinstance(victim, Queued)
    assert adm.release(running[0].ticket) == (victim.ticket,)
    assert adm.release(running[1].ticket) == (flood[0].ticket,)


def test_sources_of_one_network_are_served_fairly():
    adm = Admission(limits(in_flight=2, in_flight_per_network=2, in_flight_per_source=2))
    running = fill(adm, NET_A, "hostile", 2)
    fill(adm, NET_A, "hostile", 3)
    neighbour = adm.arrive(NET_A, "neighbour", 0.0)
    assert adm.release(running[0].ticket) == (neighbour.ticket,)


def test_round_robin_between_networks_with_equal_slots():
    adm = Admission(limits(in_flight=1, in_flight_per_network=1, in_flight_per_source=1))
    holder = adm.arrive(NET_C, "c", 0.0)
    a = fill(adm, NET_A, "a", 3)
    b = fill(adm, NET_B, "b", 3)
    order, ticket = [], holder.ticket
    for _ in range(6):
        (ticket,) = adm.release(ticket)
        order.append(ticket)
    assert order == [a[0].ticket, b[0].ticket, a[1].ticket, b[1].ticket, a[2].ticket, b[2].ticket]


def test_a_network_slow_at_nova_keeps_only_its_share():
    """Network A's calls never return; the rest of the agent's slots stay for others."""
    adm = Admission(limits(in_flight=4, in_flight_per_network=3, in_flight_per_source=3))
    fill(adm, NET_A, "slow", 3)
    assert isinstance(adm.arrive(NET_A, "slow2", 0.0), Queued)
    assert isinstance(adm.arrive(NET_B, "b", 0.0), Admitted)


def test_a_network_under_its_bound_is_served_before_a_blocked_one():
    adm = Admission(limits(in_flight=3, in_flight_per_network=2, in_flight_per_source=2))
    a = fill(adm, NET_A, "a", 2)
    b = adm.arrive(NET_B, "b", 0.0)
    fill(adm, NET_A, "a", 2)  # blocked by A's own bound, first in line
    b2 = adm.arrive(NET_B, "b2", 0.0)  # blocked by the agent's
    assert isinstance(b2, Queued)
    assert adm.release(b.ticket) == (b2.ticket,)
    assert len(adm.release(a[0].ticket)) == 1


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ([(NET_A, "s1"), (NET_A, "s1")], "source"),
        ([(NET_A, "s2"), (NET_A, "s3"), (NET_A, "s4")], "network"),
        ([(NET_B, "b1"), (NET_B, "b2"), (NET_C, "c1"), (NET_C, "c2")], "agent"),
    ],
    ids=["own-source-full", "own-network-full", "agent-full"],
)
def test_given_up_waiter_says_what_blocked_it(setup, reason):
    adm = Admission(limits())
    for n, s in setup:
        assert isinstance(adm.arrive(n, s, 0.0), Admitted)
    waiting = adm.arrive(NET_A, "s1", 0.0)
    assert isinstance(waiting, Queued)
    assert adm.give_up(waiting.ticket) == Rejected(reason)
    assert adm.queued() == 0


def test_give_up_after_a_grant_keeps_the_slot():
    adm = Admission(limits())
    first, _, waiting = fill(adm, NET_A, "s1", 3)
    adm.release(first.ticket)
    assert adm.give_up(waiting.ticket) == Admitted(waiting.ticket)
    assert adm.in_flight(NET_A, "s1") == 2


def test_a_given_up_waiter_is_never_granted():
    adm = Admission(limits())
    first, _, waiting = fill(adm, NET_A, "s1", 3)
    adm.give_up(waiting.ticket)
    assert adm.release(first.ticket) == ()


def test_double_release_is_a_bug():
    adm = Admission(limits())
    d = adm.arrive(NET_A, "s1", 0.0)
    adm.release(d.ticket)
    with pytest.raises(KeyError):
        adm.release(d.ticket)


def test_ledger_empties_when_the_load_is_gone():
    adm = Admission(limits())
    decisions = fill(adm, NET_A, "s1", 6) + fill(adm, NET_B, "s2", 3)
    assert adm.queued() == 5
    admitted = [d.ticket for d in decisions if isinstance(d, Admitted)]
    while admitted:  # every call finishes; each release may grant waiters, which finish too
        admitted.extend(adm.release(admitted.pop(0)))
    assert (adm.in_flight(), adm.queued()) == (0, 0)
    assert not adm._running_net and not adm._running_src and not adm._waiting  # no leak


@pytest.mark.parametrize(
    ("reason", "status"), [("source", 429), ("network", 429), ("agent", 503)], ids=str
)
def test_own_share_full_is_429_agent_full_is_503(reason, status):
    assert Rejected(reason).status == status
