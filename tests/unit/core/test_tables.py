from ovnmeta.core import tables


def test_columns_as_wide_as_their_widest_cell_without_trailing_spaces():
    text = tables.render(("NAME", "STATE"), [("blue", "served"), ("a-longer-one", "")])
    assert text == "NAME          STATE\nblue          served\na-longer-one"


def test_header_only_and_non_string_cells():
    assert tables.render(["NET", "PORTS"], []) == "NET  PORTS"
    assert tables.render(["PID", "X"], [[12, None]]) == "PID  X\n12   None"
