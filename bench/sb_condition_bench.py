"""What one agent's first SB monitor request costs the SB server (or relay) that holds a
cloud: server CPU of a `monitor_cond` of Port_Binding with the agent's condition, at N local
datapaths, against the same condition with the `includes` clause the agent sent before.

ovsdb-server hashes a condition's clauses by column only while every clause is `==` (or
true/false); one `includes` makes it test every row against every clause. No lab is needed:
a standalone ovsdb-server on the OVN SB schema, the synthetic cloud of `lab.cloud_rows`
written into it, one fresh connection per request, pairs alternated.

    bench/sb_condition_bench.py [--networks 10000 --ports 50000 --chassis 500] [--local 200 1000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchkit import Table, cpu_seconds

from ovnmeta.agent.sb.rows import port_binding_condition
from ovnmeta.lab import cloud_rows
from ovnmeta.lab.ovsdb_rpc import OvsdbRpc

SB_SCHEMA = Path("/usr/share/ovn/ovn-sb.ovsschema")
COLUMNS = ["logical_port", "datapath", "chassis", "type", "mac"]
ROUNDS = 5


def with_includes(cond: list) -> list:
    """The agent's condition as it was before: `additional_chassis includes own`."""
    return [[c[0], "includes", c[2][1][0]] if c[0] == "additional_chassis" else c for c in cond]


def request_cost(sock: Path, server: int, where: list) -> tuple[float, float, int]:
    """Server CPU, wall seconds and rows of one monitor_cond on a fresh connection."""
    with OvsdbRpc(sock) as db:
        cpu, wall = cpu_seconds([server]), time.monotonic()
        rows = db.monitor_cond(
            cloud_rows.DB, {"Port_Binding": {"where": where, "columns": COLUMNS}}
        )
        wall, cpu = time.monotonic() - wall, cpu_seconds([server]) - cpu
    time.sleep(0.2)  # the server drops the monitor before the next request
    return cpu, wall, len(rows.get("Port_Binding", {}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", type=int, default=10_000)
    ap.add_argument("--ports", type=int, default=50_000)
    ap.add_argument("--chassis", type=int, default=500)
    ap.add_argument("--local", type=int, nargs="+", default=[200, 1000])
    args = ap.parse_args()
    spec = cloud_rows.CloudSpec(networks=args.networks, ports=args.ports, chassis=args.chassis)
    table = Table()
    with tempfile.TemporaryDirectory(prefix="sbcond-") as tmp:
        db, sock = Path(tmp) / "sb.db", Path(tmp) / "sb.sock"
        subprocess.run(["ovsdb-tool", "create", db, SB_SCHEMA], check=True)
        server = subprocess.Popen(
            [
                "ovsdb-server",
                db,
                f"--remote=punix:{sock}",
                f"--unixctl={tmp}/ctl",
                f"--log-file={tmp}/server.log",
            ]
        )
        try:
            while not sock.exists():
                time.sleep(0.05)
            start, datapaths = time.monotonic(), []
            with OvsdbRpc(sock) as rpc:
                chassis = cloud_rows.chassis_uuids(
                    rpc.transact(cloud_rows.DB, cloud_rows.chassis_ops(spec))
                )
                for ops in cloud_rows.network_batches(spec, chassis):
                    results = rpc.transact(cloud_rows.DB, ops)
                    datapaths += [
                        res["uuid"][1]
                        for op, res in zip(ops, results, strict=False)
                        if op.get("table") == "Datapath_Binding"
                    ]
            table.row(
                "synthetic cloud in a standalone SB",
                f"{len(datapaths)} datapaths, {args.ports} VIFs, {len(chassis)} chassis",
                baseline=f"written in {time.monotonic() - start:.1f} s",
            )
            own = chassis[0]
            for local in args.local:
                now = port_binding_condition(own, frozenset(datapaths[:local]), requested=True)
                before = with_includes(now)
                samples: dict[str, list[tuple[float, float, int]]] = {"now": [], "before": []}
                for _ in range(ROUNDS):
                    for name, where in (("before", before), ("now", now)):
                        samples[name].append(request_cost(sock, server.pid, where))
                cpu = {k: statistics.median(s[0] for s in v) for k, v in samples.items()}
                wall = {k: statistics.median(s[1] for s in v) for k, v in samples.items()}
                rows = samples["now"][0][2]
                assert rows == samples["before"][0][2], "both conditions must select the same rows"
                table.row(
                    f"{local} local datapaths: SB server CPU for one first monitor request"
                    f" (median of {ROUNDS})",
                    f"{cpu['now']:.2f} s",
                    "",
                    f"with `includes` {cpu['before']:.2f} s: x{cpu['now'] / cpu['before']:.2f}",
                )
                table.row(
                    f"{local} local datapaths: wall time of that request ({rows} rows)",
                    f"{wall['now'] * 1000:.0f} ms",
                    baseline=f"with `includes` {wall['before'] * 1000:.0f} ms",
                )
        finally:
            server.terminate()
            server.wait()
    table.print()


if __name__ == "__main__":
    sys.exit(main())
