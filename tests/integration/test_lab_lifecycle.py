"""up / down cycles, labs side by side, and clean-up after a crash."""

import signal
import subprocess
import time

import pytest

from ovnmeta.lab.lab import Lab

from .labkit import OVNMETA, cli, leftovers, unique_prefix

pytestmark = pytest.mark.lab


def test_up_down_twice_leaves_nothing(new_lab_prefix):
    lab = Lab(new_lab_prefix)
    for _ in range(2):
        up = cli("lab", "up", "--name", lab.prefix, "--computes", "2")
        assert "step 3/4: ovn-controller" in up.stdout
        cli("lab", "network", "create", "n", "--cidr", "10.0.0.0/24", "--name", lab.prefix)
        cli("lab", "boot", "v1", "--network", "n", "--compute", "2", "--name", lab.prefix)
        assert leftovers(lab)  # sanity: the probe sees a running lab
        cli("lab", "down", "--name", lab.prefix)
        assert leftovers(lab) == []
    cli("lab", "down", "--name", lab.prefix)  # safe to run twice
    assert leftovers(lab) == []


def test_two_labs_side_by_side_with_identical_addresses():
    labs = [Lab(unique_prefix()), Lab(unique_prefix())]
    try:
        for lab in labs:
            lab.up(controllers=1, computes=2)
            lab.create_network("n", ["10.0.0.0/24"])
            lab.boot("v1", "n", 1)
            lab.boot("v2", "n", 2)
        for lab in labs:
            assert [lab.instance(v).addresses[0] for v in ("v1", "v2")] == [
                "10.0.0.10",
                "10.0.0.11",
            ]
            out = lab.run_in("v1", ["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.0.0.11"])
            assert " 0% packet loss" in out
        labs[0].down()
        assert leftovers(labs[0]) == []
        out = labs[1].run_in("v2", ["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.0.0.10"])
        assert " 0% packet loss" in out  # the other lab is untouched
    finally:
        for lab in labs:
            lab.down()


def test_half_built_lab_is_cleaned_by_the_next_up(new_lab_prefix):
    lab = Lab(new_lab_prefix)
    crashed = subprocess.Popen(
        [*OVNMETA, "lab", "up", "--name", lab.prefix, "--computes", "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    # Kill it mid-way, once the first daemons are running.
    deadline = time.monotonic() + 20
    while not list(lab.dir.rglob("*.pid")) and time.monotonic() < deadline:
        time.sleep(0.01)
    crashed.send_signal(signal.SIGKILL)
    crashed.wait()
    assert leftovers(lab)  # the crash left things behind

    up = cli("lab", "up", "--name", lab.prefix, "--computes", "2")
    assert "cleaning up what a previous run left behind" in up.stdout
    cli("lab", "network", "create", "n", "--cidr", "10.0.0.0/24", "--name", lab.prefix)
    cli("lab", "boot", "v1", "--network", "n", "--compute", "1", "--name", lab.prefix)
    cli("lab", "down", "--name", lab.prefix)
    assert leftovers(lab) == []


def test_half_built_lab_is_cleaned_by_down(new_lab_prefix):
    lab = Lab(new_lab_prefix)
    crashed = subprocess.Popen(
        [*OVNMETA, "lab", "up", "--name", lab.prefix], stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while not list(lab.dir.rglob("*.pid")) and time.monotonic() < deadline:
        time.sleep(0.01)
    crashed.send_signal(signal.SIGKILL)
    crashed.wait()
    cli("lab", "down", "--name", lab.prefix)
    assert leftovers(lab) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["up", "--name", "Bad_Name"], "invalid lab name"),
        (["up", "--name", "ovnmetax"], "belongs to the agent"),
        (["up", "--computes", "0"], "--computes must be between"),
        (["status"], "is not up"),
        (["boot", "v", "--network", "n", "--compute", "1"], "is not up"),
    ],
)
def test_bad_input_without_a_lab(args, message):
    if "--name" not in args:
        args = [*args, "--name", unique_prefix()]
    proc = cli("lab", *args, check=False)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, proc.stderr


def test_each_compute_has_its_own_netns_directory_that_down_removes(new_lab_prefix):
    lab = Lab(new_lab_prefix)
    lab.up(controllers=1, computes=2)
    # What the agent does on a host: a namespace with an upstream name, a process in it.
    lab.run_on_compute(1, ["ip", "netns", "add", "ovnmeta-lab-test"])
    lab.run_on_compute(2, ["ip", "netns", "add", "ovnmeta-lab-test"])
    sleeper = subprocess.Popen(
        lab.compute_argv(1, ["ip", "netns", "exec", "ovnmeta-lab-test", "sleep", "300"])
    )
    try:
        assert "ovnmeta-lab-test" in lab.run_on_compute(1, ["ip", "netns", "list"])
        assert (
            "ovnmeta-lab-test"
            not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        )
        lab.run_on_compute(2, ["ip", "netns", "delete", "ovnmeta-lab-test"])
        assert "ovnmeta-lab-test" in lab.run_on_compute(1, ["ip", "netns", "list"])
        # The compute's namespace sees its own OVS ports: the agent can plug into br-int.
        assert "br-int" in lab.run_on_compute(1, ["ip", "link", "show", "br-int"])
    finally:
        lab.down()
    sleeper.wait(timeout=10)
    assert leftovers(lab) == []
