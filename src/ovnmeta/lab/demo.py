"""`ovnmeta demo`: the whole metadata service on a real lab, proven by cloud-init itself.

Brings up a lab (1 controller, 2 computes by default) with the metadata API on the
controller and the agent on every compute, creates two networks and boots instances on
different computes with SSH keys and user data; then runs cloud-init's own OpenStack
datasource reader (and its EC2 helper) inside each instance's namespace against
http://169.254.169.254 and compares what it read with what was registered.
"""

import argparse
import base64
import hashlib
import os
import struct
import time
from dataclasses import dataclass
from typing import Any

from ovnmeta.lab import cloudinit
from ovnmeta.lab.lab import Lab
from ovnmeta.lab.state import InstanceRecord

NETWORKS = {"blue": ["10.10.0.0/24"], "green": ["10.20.0.0/24"]}
# name: (network, compute index); computes wrap around when there are fewer.
INSTANCES = {"web": ("blue", 1), "db": ("blue", 2), "cache": ("green", 2), "batch": ("green", 1)}
METADATA_URL = "http://169.254.169.254"


def demo_key(name: str) -> str:
    """A well-formed ed25519 public key for the demo (the private half is never made)."""
    kind = b"ssh-ed25519"
    blob = struct.pack(">I", len(kind)) + kind + struct.pack(">I", 32) + os.urandom(32)
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {name}@ovnmeta-demo"


def demo_user_data(name: str) -> bytes:
    return (
        f"#cloud-config\nhostname: {name}\nwrite_files:\n  - path: /etc/motd\n"
        f"    content: |\n      {name} was configured by ovnmeta\n"
    ).encode()


@dataclass
class Registered:
    vm: InstanceRecord
    key_name: str
    key: str
    user_data: bytes


def compare(reg: Registered, read: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(field, registered, read by cloud-init, equal) rows for one instance."""
    vm = reg.vm
    ud_sha = hashlib.sha256(reg.user_data).hexdigest()
    links = (read.get("network_data") or {}).get("links") or [{}]
    nets = (read.get("network_data") or {}).get("networks") or [{}]
    read_net = f"{links[0].get('ethernet_mac_address')} {nets[0].get('type')}"
    ec2 = read.get("ec2") or {}
    ec2_key = (ec2.get("public_keys") or {}).get(reg.key_name)
    return [
        ("uuid", vm.id, str(read.get("uuid")), read.get("uuid") == vm.id),
        (
            "hostname",
            f"{vm.name}.novalocal",
            str(read.get("hostname")),
            read.get("hostname") == f"{vm.name}.novalocal",
        ),
        (
            "keys",
            f"{reg.key_name}: …{reg.key[-40:-20]}",
            ", ".join(f"{k}: …{v[-40:-20]}" for k, v in (read.get("public_keys") or {}).items()),
            read.get("public_keys") == {reg.key_name: reg.key},
        ),
        (
            "user-data",
            f"sha256 {ud_sha[:16]} ({len(reg.user_data)} B)",
            f"sha256 {str(read.get('user_data_sha256'))[:16]}",
            read.get("user_data_sha256") == ud_sha,
        ),
        ("network", f"{vm.mac} ipv4_dhcp", read_net, read_net == f"{vm.mac} ipv4_dhcp"),
        (
            "ec2",
            f"local-ipv4 {vm.addresses[0]}, key {reg.key_name}",
            f"local-ipv4 {ec2.get('local_ipv4')}, key {'ok' if ec2_key else ec2_key}",
            ec2.get("local_ipv4") == vm.addresses[0] and bool(ec2_key) and reg.key in str(ec2_key),
        ),
    ]


def run_demo(args: argparse.Namespace) -> int:
    started = time.monotonic()
    cloudinit.ensure_unpacked()
    lab = Lab(args.name)
    print(f"== lab {args.name}: 1 controller, {args.computes} computes")
    lab.up(controllers=1, computes=args.computes, progress=lambda m: print(f"  {m}"))
    verdicts: list[bool] = []
    try:
        print("== networks (Neutron-style: DHCP, metadata localport, option 121)")
        for name, cidrs in NETWORKS.items():
            lab.create_network(name, cidrs)
            print(f"  {name} {' '.join(cidrs)}")
        print("== instances (registered with the metadata API, addressed by OVN DHCP)")
        registered: dict[str, Registered] = {}
        for name, (network, index) in INSTANCES.items():
            key = demo_key(name)
            user_data = demo_user_data(name)
            t0 = time.monotonic()
            vm = lab.boot(
                name,
                network,
                (index - 1) % args.computes + 1,
                user_data=user_data,
                keys=[(f"{name}-key", key)],
                meta={"role": name},
            )
            registered[name] = Registered(vm, f"{name}-key", key, user_data)
            print(
                f"  {name:6} {vm.compute}  {network:5} {vm.addresses[0]:11} "
                f"booted in {time.monotonic() - t0:.2f} s"
            )
        print(f"== cloud-init's OpenStack reader and EC2 helper in each instance -> {METADATA_URL}")
        for name, reg in registered.items():
            t0 = time.monotonic()
            try:
                read = cloudinit.read(METADATA_URL, netns=reg.vm.netns, retries=3)
            except cloudinit.ReaderError as exc:
                read = {"error": str(exc)}
            took = time.monotonic() - t0
            rows = [] if "error" in read else compare(reg, read)
            ok = bool(rows) and all(r[3] for r in rows)
            verdicts.append(ok)
            print(
                f"  {'PASS' if ok else 'FAIL'}  {name} on {reg.vm.compute} "
                f"({reg.vm.network}, {reg.vm.addresses[0]}): cloud-init read in {took:.2f} s"
            )
            if "error" in read:
                print(f"        cloud-init: {read['error']}")
            for field, want, got, equal in rows:
                mark = "==" if equal else "!="
                print(f"        {field:9} {want:48} {mark} {got}")
    finally:
        if args.keep:
            print(
                f"\nlab {args.name} left up. Look around:\n"
                f"  ovnmeta lab status --name {args.name}\n"
                f"  ovnmeta lab exec --name {args.name} web -- "
                f"curl -s {METADATA_URL}/openstack/latest/meta_data.json\n"
                f"  ovnmeta lab exec --name {args.name} web -- ip route\n"
                f"  ovnmeta lab down --name {args.name}"
            )
        else:
            t0 = time.monotonic()
            lab.down()
            print(f"== lab {args.name} torn down in {time.monotonic() - t0:.2f} s")
    passed = bool(verdicts) and all(verdicts)
    print(
        f"\ndemo {'PASS' if passed else 'FAIL'}: {sum(verdicts)}/{len(verdicts)} instances "
        f"read their own metadata through cloud-init, {time.monotonic() - started:.1f} s "
        "end to end"
    )
    return 0 if passed else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the metadata service on a real lab, checked by cloud-init",
        description=__doc__,
    )
    parser.add_argument("--name", default="demo", metavar="PREFIX", help="lab name (default demo)")
    parser.add_argument("--computes", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="leave the lab up for exploring")
    parser.set_defaults(func=run_demo)
