"""Guest-triggered log lines: one per interval per key, the next one with the count."""

from ovnmeta.agent.proxy.loglimit import OVERFLOW, LogLimiter, suffix

KEY = ("no-instance", "net-a", "10.0.0.99")


def test_first_line_logged_then_suppressed_within_the_interval():
    lim = LogLimiter(60.0)
    assert lim.check(KEY, 0.0) == 0
    assert [lim.check(KEY, t) for t in (1.0, 30.0, 59.9)] == [None, None, None]


def test_next_window_logs_with_the_count_of_the_suppressed():
    lim = LogLimiter(60.0)
    lim.check(KEY, 0.0)
    for t in range(1, 11):
        lim.check(KEY, float(t))
    assert lim.check(KEY, 60.0) == 10
    assert lim.check(KEY, 61.0) is None
    assert lim.check(KEY, 500.0) == 1  # counted since the last logged line, however long ago


def test_keys_are_independent():
    lim = LogLimiter(60.0)
    other_source = ("no-instance", "net-a", "10.0.0.98")
    other_kind = ("target", "net-a", "10.0.0.99")
    assert [lim.check(k, 0.0) for k in (KEY, other_source, other_kind)] == [0, 0, 0]
    assert lim.check(KEY, 1.0) is None


def test_many_addresses_share_one_overflow_line():
    lim = LogLimiter(60.0, max_keys=3)
    logged = [lim.check(("k", i), 0.0) for i in range(10)]
    assert logged == [0, 0, 0, 0] + [None] * 6  # 3 keys, then one overflow line
    assert lim.check(OVERFLOW, 60.0) == 6


def test_finished_windows_make_room_and_their_counts_go_to_overflow():
    lim = LogLimiter(60.0, max_keys=2)
    lim.check("a", 0.0)
    lim.check("a", 1.0)  # suppressed: must still be counted somewhere
    lim.check("b", 0.0)
    assert lim.check("c", 60.0) == 0  # "a" and "b" are done: forgotten, room for "c"
    assert lim.check(OVERFLOW, 61.0) is None  # its window holds a's 1 pending count
    assert lim.check(OVERFLOW, 200.0) == 2


def test_suffix():
    assert suffix(0) == ""
    assert suffix(3) == " (3 similar lines suppressed since the last one)"
