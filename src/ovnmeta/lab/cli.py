"""`ovnmeta lab ...`: bring a real OVN lab up and down, create networks, boot instances."""

import argparse
import json
import os
import sys
from pathlib import Path

from ovnmeta.core.checks import key_value
from ovnmeta.core.errors import UsageError
from ovnmeta.lab import leaks
from ovnmeta.lab import status as lab_status
from ovnmeta.lab.lab import DEFAULT_PREFIX, Lab, lab_root


def _progress(message: str) -> None:
    print(f"  {message}", flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    lab = Lab(args.name)
    print(f"lab {args.name}: {args.controllers} controller(s), {args.computes} compute(s)")
    st = lab.up(
        args.controllers,
        args.computes,
        progress=_progress,
        sb_relays=args.sb_relays,
        ssl=args.ssl,
        neutron=args.neutron,
    )
    print(f"lab {args.name} is up in {st.timings['up']:.2f} s")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    Lab(args.name).down(progress=_progress)
    print(f"lab {args.name} is down")
    return 0


def cmd_network_create(args: argparse.Namespace) -> int:
    kwargs = {"project": args.project} if args.project else {}
    net = Lab(args.name).create_network(args.network, args.cidr, not args.no_metadata, **kwargs)
    meta = f", metadata port {net.metadata_port}" if net.metadata else ", no metadata port"
    print(f"network {net.name}: {net.switch} {' '.join(net.cidrs)}{meta}")
    return 0


def cmd_network_delete(args: argparse.Namespace) -> int:
    Lab(args.name).delete_network(args.network)
    print(f"network {args.network} deleted")
    return 0


def cmd_boot(args: argparse.Namespace) -> int:
    user_data = None
    if args.user_data:
        try:
            user_data = Path(args.user_data).read_bytes()
        except OSError as exc:
            raise UsageError(f"--user-data {args.user_data}: {exc.strerror}") from None
    vm = Lab(args.name).boot(
        args.vm,
        args.network,
        args.compute,
        project=args.project,
        user_data=user_data,
        keys=[key_value("--key", k) for k in args.key],
        meta=dict(key_value("--meta", m) for m in args.meta),
    )
    routes = vm.dhcp.get("staticroutes", "")
    print(
        f"instance {vm.name} ({vm.id}) on {vm.compute}: {' '.join(vm.addresses)} "
        f"by DHCP, routes: {routes or 'none'}; namespace {vm.netns}"
    )
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    Lab(args.name).remove_instance(args.vm)
    print(f"instance {args.vm} removed")
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    # REMAINDER swallows options given after VM; accept `VM --name X -- CMD` too.
    name, command = args.name, list(args.cmd)
    if "--" in command:
        before, command = command[: command.index("--")], command[command.index("--") + 1 :]
        extra = argparse.ArgumentParser(prog="ovnmeta lab exec")
        extra.add_argument("--name", default=name)
        name = extra.parse_args(before).name
    argv = Lab(name).exec_argv(args.vm, command)
    sys.stdout.flush()
    os.execvp(argv[0], argv)
    return 127  # not reached


def cmd_status(args: argparse.Namespace) -> int:
    report = lab_status.collect(Lab(args.name))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(lab_status.render(report))
    return 0


def cmd_leaks(args: argparse.Namespace) -> int:
    now = leaks.scan(lab_root())
    if args.save:
        leaks.save(Path(args.save), now)
        print(f"leaks: {len(now)} lab objects present now, saved to {args.save}")
        return 0
    found = leaks.new_since(leaks.load(Path(args.since)), now) if args.since else now
    if not found:
        print("leaks: none" + (f" since {args.since}" if args.since else ""))
        return 0
    print(f"leaks: {len(found)} left behind" + (f" since {args.since}" if args.since else ""))
    print(leaks.describe(found))
    return 1


def _command(subparsers: argparse._SubParsersAction, name: str, func, help: str):
    p = subparsers.add_parser(name, help=help, description=help)
    p.add_argument(
        "--name",
        default=DEFAULT_PREFIX,
        metavar="PREFIX",
        help=f"lab name, the prefix of its namespaces (default {DEFAULT_PREFIX})",
    )
    p.set_defaults(func=func)
    return p


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lab", help="run a real OVN lab on this machine", description=__doc__
    )
    lab = parser.add_subparsers(dest="lab_command", required=True, metavar="LAB_COMMAND")

    p = _command(lab, "up", cmd_up, "bring a lab up (tears down a half-built one first)")
    p.add_argument("--controllers", type=int, choices=(1, 3), default=1)
    p.add_argument("--computes", type=int, default=1)
    p.add_argument(
        "--sb-relays",
        type=int,
        default=0,
        metavar="N",
        help="N SB relay servers on the controllers; ovn-controller and agents use only them",
    )
    p.add_argument(
        "--ssl",
        action="store_true",
        help="a CA and per-node certificates; NB, SB and relays on ssl: remotes",
    )
    p.add_argument(
        "--neutron",
        action="store_true",
        help="real neutron (pinned, from a cached venv) on a private MariaDB: its ML2/OVN "
        "driver writes the NB; network create and boot go through its REST API",
    )
    _command(lab, "down", cmd_down, "remove every process, namespace and file of the lab")

    net = lab.add_parser("network", help="logical networks, created as Neutron's ML2/OVN does")
    network = net.add_subparsers(dest="network_command", required=True, metavar="ACTION")
    p = _command(
        network, "create", cmd_network_create, "create a network with DHCP and a metadata port"
    )
    p.add_argument("network", metavar="NAME")
    p.add_argument(
        "--cidr",
        action="append",
        required=True,
        help="subnet CIDR; repeat for more subnets (IPv4 required, IPv6 optional)",
    )
    p.add_argument(
        "--no-metadata",
        action="store_true",
        help="no metadata port and no 169.254.169.254 route (ML2 ovn_metadata_enabled=false)",
    )
    p.add_argument("--project", help="project id (default: the lab's demo project)")
    p = _command(network, "delete", cmd_network_delete, "delete a network without instances")
    p.add_argument("network", metavar="NAME")

    p = _command(
        lab, "boot", cmd_boot, "boot an instance: a namespace on a compute, addressed by DHCP"
    )
    p.add_argument("vm", metavar="VM")
    p.add_argument("--network", required=True)
    p.add_argument("--compute", required=True, help="compute index or name (1, cmp1)")
    p.add_argument("--project", help="project id (default: the network's)")
    p.add_argument("--user-data", metavar="FILE", help="user data served to the instance")
    p.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="NAME=PUBKEY",
        help="an SSH key pair (repeatable)",
    )
    p.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="K=V",
        help="a metadata property (repeatable)",
    )
    p = _command(lab, "rm", cmd_rm, "remove an instance and its port")
    p.add_argument("vm", metavar="VM")
    p = _command(lab, "exec", cmd_exec, "run a command inside an instance: lab exec VM -- CMD...")
    p.add_argument("vm", metavar="VM")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    p = lab.add_parser(
        "leaks",
        help="what labs and agents left behind: processes, namespaces, mounts, directories",
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--save", metavar="FILE", help="record what is there now, report nothing")
    when.add_argument("--since", metavar="FILE", help="report only what is new since --save")
    p.set_defaults(func=cmd_leaks)
    p = _command(lab, "status", cmd_status, "nodes, daemons, networks and instances of the lab")
    p.add_argument("--json", action="store_true")
