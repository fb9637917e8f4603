from ovnmeta.agent.dataplane.port_index import PortIndex


def Column(*uuids: str) -> list[str]:  # a bridge's `ports` column, as UUIDs
    return list(uuids)


def bridges(**columns: list[str]):
    return list(columns.items())


def test_ports_are_found_on_their_bridge():
    index: PortIndex[str] = PortIndex()
    names = {"u1": "tapA", "u2": "tapB", "u3": "patch"}
    index.refresh(bridges(br_int=Column("u1", "u2"), br_ex=Column("u3")), names.get)
    assert index.lookup("tapA") == [("br_int", "u1")]
    assert index.lookup("patch") == [("br_ex", "u3")]
    assert index.lookup("tapZ") == []


def test_an_unchanged_port_set_looks_nothing_up_again():
    index: PortIndex[str] = PortIndex()
    col = Column("u1")
    asked: list[str] = []

    def name_of(u: str) -> str:
        asked.append(u)
        return "tap" + u

    index.refresh(bridges(br_int=col), name_of)
    index.refresh(bridges(br_int=col), name_of)
    assert asked == ["u1"]


def test_a_changed_column_looks_up_only_the_new_ports_and_forgets_the_gone():
    index: PortIndex[str] = PortIndex()
    asked: list[str] = []

    def name_of(u: str) -> str:
        asked.append(u)
        return "tap" + u

    index.refresh(bridges(br_int=Column("u1", "u2")), name_of)
    index.refresh(bridges(br_int=Column("u2", "u3")), name_of)
    assert sorted(asked) == ["u1", "u2", "u3"]
    assert index.lookup("tapu1") == []
    assert index.lookup("tapu3") == [("br_int", "u3")]


def test_a_port_whose_row_comes_after_the_bridge_update_is_found_later():
    index: PortIndex[str] = PortIndex()
    rows: dict[str, str] = {}
    col = Column("u1")
    index.refresh(bridges(br_int=col), rows.get)  # the Bridge update read first
    assert index.lookup("tapA") == []
    rows["u1"] = "tapA"  # then its Port row: the column is the same
    index.refresh(bridges(br_int=col), rows.get)
    assert index.lookup("tapA") == [("br_int", "u1")]


def test_a_port_moved_to_another_bridge_and_a_bridge_gone():
    index: PortIndex[str] = PortIndex()
    names = {"u1": "tapA"}.get
    index.refresh(bridges(br_int=Column("u1"), br_ex=Column()), names)
    index.refresh(bridges(br_int=Column(), br_ex=Column("u1")), names)
    assert index.lookup("tapA") == [("br_ex", "u1")]
    index.refresh(bridges(br_int=Column()), names)
    assert index.lookup("tapA") == []


def test_a_column_changed_in_place_is_seen():
    # python-ovs applies a monitor diff to a set column in place: the same object, new UUIDs.
    index: PortIndex[str] = PortIndex()
    col = Column("u1")
    names = {"u1": "tapA", "u2": "tapB"}.get
    index.refresh(bridges(br_int=col), names)
    col.append("u2")
    col.remove("u1")
    index.refresh(bridges(br_int=col), names)
    assert index.lookup("tapB") == [("br_int", "u2")]
    assert index.lookup("tapA") == []
