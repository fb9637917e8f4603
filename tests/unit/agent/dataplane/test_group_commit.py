import threading

import pytest

from ovnmeta.agent.dataplane.group_commit import GroupCommit


class Recorder:
    """A commit that blocks until released, records its groups and fails on `bad` items."""

    def __init__(self, bad: frozenset[str] = frozenset()) -> None:
        self.groups: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.bad = bad

    def __call__(self, items):
        self.groups.append(list(items))
        self.entered.set()
        self.release.wait(5)
        if self.bad & set(items):
            raise ValueError(f"bad {sorted(self.bad & set(items))}")


def submit_all(gc: GroupCommit, items: list[str]) -> tuple[list[threading.Thread], dict]:
    errors: dict[str, BaseException | None] = {}

    def one(item: str) -> None:
        try:
            gc.submit(item)
            errors[item] = None
        except ValueError as exc:
            errors[item] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in items]
    for t in threads:
        t.start()
    return threads, errors


def wait_queued(gc: GroupCommit, count: int) -> None:
    for _ in range(500):
        with gc._lock:
            if len(gc._queue) >= count:
                return
        threading.Event().wait(0.01)
    raise AssertionError(f"fewer than {count} items queued")


def test_a_lone_item_is_committed_alone():
    commit = Recorder()
    commit.release.set()
    GroupCommit(commit).submit("a")
    assert commit.groups == [["a"]]


def start_a_then_three(commit: Recorder):
    """Submit "a"; while its commit runs, "b", "c" and "d" (queued, not yet committed)."""
    gc = GroupCommit(commit)
    first, errors = submit_all(gc, ["a"])
    assert commit.entered.wait(5)
    rest, more = submit_all(gc, ["b", "c", "d"])
    wait_queued(gc, 3)
    return gc, first, errors, rest, more


def a_then_three_during_its_commit(commit: Recorder) -> dict:
    """The same, run to the end; returns each caller's error."""
    _, first, errors, rest, more = start_a_then_three(commit)
    commit.release.set()
    for t in first + rest:
        t.join(5)
    return {**errors, **more}


def test_items_arriving_during_a_commit_share_the_next_one():
    commit = Recorder()
    errors = a_then_three_during_its_commit(commit)
    assert commit.groups[0] == ["a"]
    assert sorted(commit.groups[1]) == ["b", "c", "d"]
    assert len(commit.groups) == 2
    assert errors == {"a": None, "b": None, "c": None, "d": None}


def test_a_failed_group_is_retried_item_by_item_and_only_the_bad_item_fails():
    commit = Recorder(bad=frozenset({"c"}))
    results = a_then_three_during_its_commit(commit)
    assert isinstance(results.pop("c"), ValueError)
    assert results == {"a": None, "b": None, "d": None}
    assert sorted(map(tuple, commit.groups[2:])) == [("b",), ("c",), ("d",)]


def test_a_lone_failure_reaches_its_caller():
    commit = Recorder(bad=frozenset({"x"}))
    commit.release.set()
    with pytest.raises(ValueError, match="bad"):
        GroupCommit(commit).submit("x")


def test_the_first_caller_returns_after_its_own_commit_and_the_next_one_leads():
    """ "a" commits alone; "b", "c", "d" arrived meanwhile: one of them commits their group,
    and "a" is not kept committing it."""
    commit = Recorder()
    gc, first, errors, rest, more = start_a_then_three(commit)
    leader = first[0]
    commit.release.set()
    leader.join(5)
    assert not leader.is_alive() and errors == {"a": None}
    for t in rest:
        t.join(5)
    assert more == {"b": None, "c": None, "d": None}
    assert commit.groups[0] == ["a"] and sorted(commit.groups[1]) == ["b", "c", "d"]
    assert not gc._running and gc._queue == []
