from ovnmeta.agent.dataplane.haproxy import Proc, parse_proc

SHOW_PROC = """#<PID>          <type>          <reloads>       <uptime>        <version>
26589           master          1 [failed: 0]   0d00h00m06s     2.6.12-1+deb12u4
# workers
26749           worker          0               0d00h00m02s     2.6.12-1+deb12u4
# old workers
26593           worker          1               0d00h00m05s     2.6.12-1+deb12u4
# programs

"""


def test_current_workers_only():
    assert parse_proc(SHOW_PROC) == Proc(reloads=1, failed=0, workers=frozenset({26749}))


def test_a_failed_reload_keeps_the_old_worker_current():
    text = SHOW_PROC.replace("1 [failed: 0]", "2 [failed: 1]")
    assert parse_proc(text) == Proc(reloads=2, failed=1, workers=frozenset({26749}))


def test_no_answer_yet():
    assert parse_proc("") is None
