"""`ovnmeta demo`: bring a lab up, show it working, tear it down.

The lab part of the demo: 1 controller and 2 computes, two networks, three instances on
different computes that got their addresses from OVN's DHCP, and checks a user would make
by hand (the metadata route, ping across computes). Each check prints PASS or FAIL.
"""

import argparse
import re
import time

from ovnmeta.lab.lab import Lab
from ovnmeta.lab.status import collect, render

NETWORKS = {"blue": ["10.10.0.0/24"], "green": ["10.20.0.0/24"]}
INSTANCES = {"web": ("blue", 1), "db": ("blue", 2), "cache": ("green", 2)}


def _check(results: list[bool], ok: bool, what: str) -> None:
    results.append(ok)
    print(f"  {'PASS' if ok else 'FAIL'}  {what}")


def run_demo(args: argparse.Namespace) -> int:
    lab = Lab(args.name)
    started = time.monotonic()
    print(f"== bringing up lab {args.name}: 1 controller, {args.computes} computes")
    lab.up(controllers=1, computes=args.computes, progress=lambda m: print(f"  {m}"))
    results: list[bool] = []
    try:
        print("== networks and instances (Neutron-style NB objects, DHCP from OVN)")
        for name, cidrs in NETWORKS.items():
            lab.create_network(name, cidrs)
            print(f"  network {name} {' '.join(cidrs)}")
        for name, (network, compute) in INSTANCES.items():
            t0 = time.monotonic()
            vm = lab.boot(name, network, min(compute, args.computes))
            print(
                f"  instance {name} on {vm.compute}: {vm.addresses[0]} by DHCP "
                f"in {time.monotonic() - t0:.2f} s"
            )
        print("== checks")
        for name in INSTANCES:
            vm = lab.instance(name)
            routes = lab.run_in(name, ["ip", "route"])
            has_route = re.search(r"^169\.254\.169\.254 via \S+ dev eth0 proto dhcp", routes, re.M)
            _check(results, bool(has_route), f"{name}: 169.254.169.254 route from DHCP option 121")
        web, db = lab.instance("web"), lab.instance("db")
        ping = lab.run_in("web", ["ping", "-c", "3", "-i", "0.2", "-W", "2", db.addresses[0]])
        rtt = re.search(r"= [\d.]+/([\d.]+)/", ping)
        _check(
            results,
            " 0% packet loss" in ping,
            f"web ({web.compute}) pings db ({db.compute}) through Geneve"
            + (f", avg RTT {rtt.group(1)} ms" if rtt else ""),
        )
        print()
        print(render(collect(lab)))
    finally:
        if args.keep:
            print(
                f"\nlab {args.name} left up. Look around with:\n"
                f"  ovnmeta lab status --name {args.name}\n"
                f"  ovnmeta lab exec --name {args.name} web -- ip route\n"
                f"  ovnmeta lab down --name {args.name}"
            )
        else:
            print(f"== tearing lab {args.name} down")
            lab.down()
    verdict = "PASS" if results and all(results) else "FAIL"
    print(
        f"\ndemo {verdict}: {sum(results)}/{len(results)} checks in "
        f"{time.monotonic() - started:.1f} s"
    )
    return 0 if verdict == "PASS" else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="bring a lab up, show it working, tear it down", description=__doc__
    )
    parser.add_argument("--name", default="demo", metavar="PREFIX", help="lab name (default demo)")
    parser.add_argument("--computes", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="leave the lab up for exploring")
    parser.set_defaults(func=run_demo)
