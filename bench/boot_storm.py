"""A boot storm on one lab compute: K instances plugged at once, each taking its address from
OVN's DHCP and running cloud-init's own reader the moment it has it (as a guest boots).

The ports exist in the NB and the instances in the metadata API beforehand (Nova and Neutron
create them before a VM starts); the storm itself is the plugging, the bindings, DHCP and the
K readers. `run_storm` returns when every reader has finished: per instance the seconds from
the storm's start to its address being up and to its reader's end, and whether cloud-init read
that instance's own uuid, and the CPU the guest itself spent (its DHCP client and its reader,
from the guest shell's `times`): summed over K guests and divided by the cores, a floor the
storm cannot beat whatever the metadata service does.
`remove` takes the instances away again (namespaces, OVS ports, NB ports, API records).
"""

import json
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ovnmeta.lab import cloudinit, instance, logical, services
from ovnmeta.lab.lab import Lab, instance_record
from ovnmeta.lab.state import InstanceRecord

PLUG_PARALLEL = 16  # the compute's plugging (ip, ethtool, ovs-vsctl) in parallel
STORM_DEADLINE = 600  # seconds a reader may take in all


@dataclass
class Outcome:
    name: str
    seconds: float  # storm start -> the reader's end
    address: float | None  # storm start -> its address up (DHCP done), None if never
    ok: bool
    error: str = ""
    cpu: float | None = None  # the guest's own CPU seconds (DHCP client + reader)


def prepare(lab: Lab, network: str, count: int, tag: str) -> list[InstanceRecord]:
    """K instances on `network` and compute 1, known to the NB and the metadata API."""
    st = lab.state()
    net = st.networks[network]
    used = {a for v in st.instances.values() if v.network == network for a in v.addresses}
    used.add("10.0.0.10")  # the benches' static probe address
    nb = lab.northbound(st)
    vms = []
    for i in range(count):
        vm = instance_record(lab.prefix, net, "cmp1", f"s{tag}{i}", used)
        used.update(vm.addresses)
        services.register_instance(lab.dir, vm, net, None, (), {})
        logical.add_instance_port(nb, net, vm, lab.topology(st).compute(1).chassis)
        vms.append(vm)
    return vms


def guest_argv(lab: Lab, vm: InstanceRecord) -> list[str]:
    """In the guest: DHCP (udhcpc, OVN answers), then cloud-init's reader at once."""
    lease = lab.dir / f"lease-{vm.name}"
    dhcp = (
        f"LEASE_FILE={lease} busybox udhcpc -i eth0 -f -q -n -t 30 -T 1 -A 1 "
        f"-s {lab.dir / 'udhcpc.sh'} >/dev/null 2>&1"
    )
    # cloud-init's own per-request timeout and retries; the overall deadline is long, so that
    # a reader starved of CPU by its 99 neighbours is not counted as the service failing.
    reader = cloudinit.reader_command(
        "http://169.254.169.254", timeout_s=10, retries=5, deadline_s=STORM_DEADLINE
    )
    # The moment the address is up goes to stderr first (the storm's floor: DHCP without
    # metadata); the shell's `times` last (its children's user and system time).
    script = f'{dhcp} && date +%s.%N >&2 && "$@"; rc=$?; times >&2; exit $rc'
    return ["ip", "netns", "exec", vm.netns, "sh", "-c", script, "sh", *reader]


def run_storm(lab: Lab, vms: list[InstanceRecord]) -> list[Outcome]:
    cmp = lab.topology().compute(1)
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    t0 = time.monotonic()
    wall0 = time.time()

    def boot(vm: InstanceRecord) -> threading.Thread:
        instance.plug(lab.dir, cmp, vm, ipv6=False)
        guest = subprocess.Popen(
            guest_argv(lab, vm), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

        def reap() -> None:
            out, err = guest.communicate()
            done = time.monotonic() - t0
            try:
                doc = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                doc = {"error": (err.strip().splitlines() or [f"exit {guest.returncode}"])[-1]}
            ok = doc.get("uuid") == vm.id
            error = "" if ok else str(doc.get("error", f"uuid {doc.get('uuid')}"))[:120]
            with lock:
                outcomes.append(
                    Outcome(vm.name, done, _address_up(err, wall0), ok, error, guest_cpu(err))
                )

        waiter = threading.Thread(target=reap)
        waiter.start()
        return waiter

    with ThreadPoolExecutor(max_workers=PLUG_PARALLEL) as pool:
        waiters = list(pool.map(boot, vms))
    for waiter in waiters:
        waiter.join()
    return sorted(outcomes, key=lambda o: o.seconds)


def _address_up(stderr: str, wall0: float) -> float | None:
    try:
        return float(stderr.split()[0]) - wall0
    except (ValueError, IndexError):
        return None


TIMES = re.compile(r"^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$")


def guest_cpu(stderr: str) -> float | None:
    """User + system seconds of the shell's children, from the last line `times` printed
    (dash: the shell's own line, then its children's: `0m0.412s 0m0.071s`)."""
    for line in reversed(stderr.strip().splitlines()):
        if m := TIMES.match(line.strip()):
            return int(m[1]) * 60 + float(m[2]) + int(m[3]) * 60 + float(m[4])
    return None


def remove(lab: Lab, vms: list[InstanceRecord]) -> None:
    cmp = lab.topology().compute(1)
    nb = lab.northbound()
    with ThreadPoolExecutor(max_workers=PLUG_PARALLEL) as pool:
        list(pool.map(lambda vm: instance.unplug(lab.dir, cmp, vm), vms))
    for vm in vms:
        logical.delete_port(nb, vm.port)
        services.unregister_instance(lab.dir, vm.id)
        (lab.dir / f"lease-{vm.name}").unlink(missing_ok=True)
