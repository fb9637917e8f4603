import threading

import pytest

from ovnmeta.agent.dataplane import read_ahead
from ovnmeta.agent.dataplane.read_ahead import ReadAhead


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reader_of(values: dict[str, str | None], gate: threading.Event | None = None):
    """A reader that reads in a thread of its own, once `gate` (if any) is set."""
    order: list[list[str]] = []

    def read(names, done):
        order.append(list(names))

        def run():
            if gate is not None:
                gate.wait(5)
            for name in names:
                done(name, values.get(name))

        threading.Thread(target=run).start()

    return read, order


def test_a_reading_is_taken_once_and_in_the_order_asked():
    read, order = reader_of({"ns-a": "A", "ns-b": "B"})
    ahead = ReadAhead(read)
    ahead.start(["ns-b", "ns-a", "ns-b"])
    assert order == [["ns-b", "ns-a"]]
    assert ahead.take("ns-a") == "A"
    assert ahead.take("ns-a") is None  # used once: the next observe reads the host itself
    assert ahead.take("ns-b") == "B"
    assert ahead.take("ns-c") is None  # never read ahead
    assert ahead.pending() == 0


def test_take_waits_for_the_reader():
    gate = threading.Event()
    read, _ = reader_of({"ns-a": "A"}, gate)
    ahead = ReadAhead(read)
    ahead.start(["ns-a"])
    threading.Timer(0.05, gate.set).start()
    assert ahead.take("ns-a") == "A"


def test_a_reader_that_never_gets_there_costs_a_bounded_wait():
    read, _ = reader_of({"ns-a": "A"}, threading.Event())  # never set
    ahead = ReadAhead(read)
    ahead.start(["ns-a"])
    assert ahead.take("ns-a", wait_s=0.05) is None


def test_a_failed_reading_is_not_used():
    read, _ = reader_of({"ns-a": None})
    ahead = ReadAhead(read)
    ahead.start(["ns-a"])
    assert ahead.take("ns-a") is None


def test_a_reading_older_than_fresh_s_is_not_used():
    clock = Clock()
    read, _ = reader_of({"ns-a": "A", "ns-b": "B"})
    ahead = ReadAhead(read, clock)
    ahead.start(["ns-a", "ns-b"])
    assert ahead.take("ns-b") == "B"  # the reader has been through both
    clock.now += read_ahead.FRESH_S + 0.1
    assert ahead.take("ns-a") is None


def test_a_change_applied_in_a_namespace_drops_its_reading():
    read, _ = reader_of({"ns-a": "A", "ns-b": "B"})
    ahead = ReadAhead(read)
    ahead.start(["ns-a", "ns-b"])
    ahead.forget({"ns-a"})
    assert ahead.take("ns-a") is None
    assert ahead.take("ns-b") == "B"


def test_a_reader_that_cannot_start_leaves_nothing_to_wait_for():
    def read(names, done):
        raise RuntimeError("no thread")

    ahead = ReadAhead(read)
    with pytest.raises(RuntimeError):
        ahead.start(["ns-a"])
    assert ahead.pending() == 0
    assert ahead.take("ns-a", wait_s=0.01) is None
