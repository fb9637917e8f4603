import pytest

from ovnmeta.agent.sb import changes, desired, hint
from ovnmeta.agent.sb.index import Index
from ovnmeta.core import names
from tests.unit.agent.factories import DP_A, DP_B, NET_A, NET_B, OTHER, OWN, datapath, meta, vif


def test_render_parse_round_trip():
    h = hint.ConditionHint(OWN, frozenset({DP_A, DP_B}))
    assert hint.parse(hint.render(h)) == h
    assert hint.parse(hint.render(hint.ConditionHint(None, frozenset()))) == hint.ConditionHint(
        None, frozenset()
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        "{",
        '{"chassis": null}',
        '{"chassis": "x", "datapaths": []}',
        f'{{"chassis": "{OWN}", "datapaths": ["not-a-uuid"]}}',
        f'{{"chassis": "{OWN}", "datapaths": [["uuid", "{DP_A}"]]}}',
        f'{{"chassis": "{OWN}", "datapaths": "{DP_A}"}}',
    ],
)
def test_anything_malformed_is_no_hint(text):
    assert hint.parse(text) is None


def test_save_and_load(tmp_path):
    path = str(tmp_path / "sub" / "sb-conditions.json")
    assert hint.load(path) is None
    h = hint.ConditionHint(OWN, frozenset({DP_A}))
    hint.save(path, h)
    assert hint.load(path) == h
    assert not (tmp_path / "sub" / "sb-conditions.json.tmp").exists()


def test_a_datapath_without_a_vif_bound_here_is_never_served():
    """What a stale hint can bring into a snapshot at worst (the client drops it from the
    condition before the snapshot; this is the index's own guard): a network whose datapath,
    localport and VIFs are all there, none of the VIFs bound here, gets no namespace, and no
    request is answered for its addresses."""
    idx = Index()
    remote = vif("p2", DP_B, chassis=(OTHER,)).port
    idx.apply(
        changes.Snapshot(
            chassis=OWN,
            ports=(
                ("m1", meta("m1", DP_A, NET_A).port),
                ("p1", vif("p1", DP_A).port),
                ("m2", meta("m2", DP_B, NET_B).port),
                ("p2", remote),
            ),
            datapaths=(datapath(DP_A, NET_A).datapath, datapath(DP_B, NET_B).datapath),
            nb_cfg=None,
            chassis_private_nb_cfg=None,
            reconnect=False,
        )
    )
    assert idx.local_networks() == {NET_A}
    assert idx.condition_datapaths() == {DP_A}
    assert desired.spec_for(idx, NET_B, names.VethNamer(), True) is None
    assert idx.ports_by_ip(NET_B, "10.0.0.11") == ()
    assert idx.ports_by_mac(NET_B, remote.mac) == ()
    assert desired.spec_for(idx, NET_A, names.VethNamer(), True) is not None
