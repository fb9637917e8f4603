"""`observe` from a read-ahead's reading: no netlink, the root ends from the one root dump."""

from ovnmeta.agent.dataplane import netns, observe
from ovnmeta.agent.reconcile.observed import Link, NamespaceState

INNER = Link("tapf3dc8112-21", "fa:16:3e:00:00:02", 1500, True, frozenset({"10.0.0.2/24"}))
OUTER = Link("tapf3dc8112-20", "fa:16:3e:00:00:03", 1500, True)
OTHER = Link("tap0000aaaa-20", "fa:16:3e:00:00:04", 1500, True)


def ports_of(names):
    return tuple(("br-int", name, "mp1") for name in sorted(names))


def test_the_root_ends_come_from_the_root_dump():
    inside = (NamespaceState.PRESENT, (INNER,), frozenset({INNER.name}), (64, None))
    root = {OUTER.name: OUTER, OTHER.name: OTHER}
    seen = observe.observe(
        "ovnmeta-x", ("tapf3dc8112-20",), ports_of, observe.Reading(inside, root)
    )
    assert seen.state is NamespaceState.PRESENT
    assert seen.inner_links == (INNER,)
    assert seen.outer_links == (OUTER,)  # not the other network's
    assert seen.tx_checksum_off == frozenset({INNER.name})
    assert seen.ports == (("br-int", "tapf3dc8112-20", "mp1"),)
    assert (seen.hop_limit_v4, seen.hop_limit_v6) == (64, None)


def test_an_expected_root_end_missing_from_the_dump_is_absent():
    inside = (NamespaceState.ABSENT, (), frozenset(), (None, None))
    seen = observe.observe("ovnmeta-x", ("tapf3dc8112-20",), ports_of, observe.Reading(inside, {}))
    assert seen.state is NamespaceState.ABSENT
    assert seen.outer_links == ()


def test_what_a_read_ahead_found_as_the_namespaces_state():
    links = (INNER,)
    assert observe.inside_of((links, frozenset(), (None, None))) == (
        NamespaceState.PRESENT,
        links,
        frozenset(),
        (None, None),
    )
    assert observe.inside_of(FileNotFoundError())[0] is NamespaceState.ABSENT
    assert observe.inside_of(netns.Broken("ovnmeta-x"))[0] is NamespaceState.BROKEN
    # Anything else says nothing about the namespace: observe reads it again (and raises).
    assert observe.inside_of(OSError(1, "setns")) is None
