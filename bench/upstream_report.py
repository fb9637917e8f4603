"""The upstream bench's output from its own numbers: the comparison rows (each figure for both
agents, ovnmeta's advantage, the issue's goal and whether it was met), as a text table,
as docs/bench/latest.md, and as PNG plots drawn with matplotlib (the `bench` extra)."""

import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ovnmeta.core import tables

HEAD = ("FIGURE", "OVNMETA", "UPSTREAM", "ADVANTAGE", "GOAL", "NOTES")
SIDES = ("ovnmeta", "upstream")


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    scalar: Callable  # one round's value -> the number compared
    show: Callable  # that number, and all rounds' values -> text
    lower_better: bool = True
    goal: str = ""  # text
    goal_met: Callable | None = None  # (ovnmeta value, advantage) -> bool


def _first(v):
    return v[0] if isinstance(v, tuple) else v


def _ms(x, _vals) -> str:
    return f"{x:.2f} ms"


def _s(x, _vals) -> str:
    return f"{x:.2f} s"


def _rps(x, vals) -> str:
    return f"{x:.0f} req/s ({sum(v[1] for v in vals)} errors)"


def _rss(x, vals) -> str:
    return f"{x:.0f} MB, {max(v[1] for v in vals)} processes"


def _storm(x, vals) -> str:
    text = f"{x:.1f} s ({sum(v[1] for v in vals)} failed)"
    addresses = [v[2] for v in vals if len(v) > 2 and v[2] is not None]
    if addresses:
        text += f"; all addresses up at {statistics.median(addresses):.1f} s"
    guests = [v[3] for v in vals if len(v) > 3 and v[3] is not None]
    if guests:  # a floor: the guests' own CPU (DHCP client, cloud-init) shares these cores
        cpu = statistics.median(guests)
        text += f"; the guests' own CPU {cpu:.0f} s (>= {cpu / (os.cpu_count() or 1):.1f} s)"
    return text


def _restart(x, vals) -> str:
    failed = sum(v[2] for v in vals)
    total = sum(v[3] for v in vals)
    first = statistics.median(v[0] for v in vals)
    return f"{x:.2f} s; first 200 after {first:.2f} s; {failed}/{total} requests failed"


def _at_least(k: float) -> Callable:
    return lambda _ovn, adv: adv is not None and adv >= k


FIGURES = {
    "p50": Figure("p50", "GET meta_data.json p50 (sequential, new connection each)", _first, _ms,
                  goal=">= 3x upstream", goal_met=_at_least(3)),
    "p99": Figure("p99", "GET meta_data.json p99", _first, _ms),
    "cpu_ms": Figure("cpu_ms", "CPU time per request, all the agent's processes", _first,
                     lambda x, _: f"{x:.2f} ms", goal=">= 5x upstream", goal_met=_at_least(5)),
    "rps8": Figure("rps8", "throughput, 8 clients", _first, _rps, lower_better=False,
                   goal=">= 5x upstream", goal_met=_at_least(5)),
    "rps32": Figure("rps32", "throughput, 32 clients", _first, _rps, lower_better=False,
                    goal=">= 5x upstream", goal_met=_at_least(5)),
    "bound_first": Figure("bound_first", "new network: port bound -> first 200 (p50 of 3)",
                          _first, lambda x, _: f"{x * 1000:.0f} ms"),
    "start_first": Figure("start_first", "agent start, cold (nothing provisioned) -> first 200",
                          _first, _s),
    "start_all": Figure("start_all", "agent start, cold -> all networks served", _first, _s),
    "restart": Figure("restart", "restart (SIGTERM) -> all served; warm first 200; failed",
                      lambda v: v[1], _restart, goal="0 failed",
                      goal_met=lambda _o, _a: None),
    "kill9": Figure("kill9", "kill -9 -> all served; first 200; failed requests",
                    lambda v: v[1], _restart, goal="0 failed", goal_met=lambda _o, _a: None),
    "rss": Figure("rss", "RSS and processes", _first, _rss),
    "storm": Figure("storm", "boot storm: all instances read by cloud-init", _first, _storm,
                    goal=">= 5x upstream, 0 failed", goal_met=_at_least(5)),
    "floor_static": Figure("floor_static", "floor: static server in the ovnmeta-<net> namespace",
                           _first, _ms),
    "floor_api": Figure("floor_api", "floor: metadata API called directly from the compute",
                        _first, _ms),
}  # fmt: skip


def _cell(res, side: str, fig: Figure, n: int) -> tuple[str, float | None]:
    vals = res.values[side][fig.key].get(n) or []
    if not vals:
        return "n/a: " + res.why.get((side, fig.key, n), "not measured"), None
    numbers = [fig.scalar(v) for v in vals]
    x = statistics.median(numbers)
    text = fig.show(x, vals)
    if len(numbers) > 1:
        text += f" [{min(numbers):.3g}-{max(numbers):.3g}]"
    return text, x


def _advantage(fig: Figure, ovn: float | None, up: float | None) -> float | None:
    if ovn is None or up is None or min(ovn, up) <= 0:
        return None
    return up / ovn if fig.lower_better else ovn / up


def _goal(fig: Figure, key: str, n: int, ovn, adv, res, networks: list[int]) -> str:
    goal, met = fig.goal, fig.goal_met(ovn, adv) if fig.goal_met else None
    if key in ("restart", "kill9"):
        vals = res.values["ovnmeta"][key].get(n) or []
        met = bool(vals) and sum(v[2] for v in vals) == 0
    if key == "start_first" and n == 50:
        goal, met = "<= 1 s at 50 networks", ovn is not None and ovn <= 1.0
    if key == "rss" and n == max(networks):
        vals = res.values["ovnmeta"]["rss"].get(n) or []
        goal = f"<= 100 MB, 4 processes at {_networks(n)}"
        met = bool(vals) and ovn <= 100 and max(v[1] for v in vals) <= 4
        if n != 200:
            goal += " (goal is at 200)"
    if key == "storm":
        vals = res.values["ovnmeta"]["storm"].get(n) or []
        met = bool(met) and bool(vals) and sum(v[1] for v in vals) == 0
    if not goal:
        return ""
    return f"{goal}: {'met' if met else 'MISSED'}" if met is not None else goal


def rows(res, meta: dict) -> list[tuple[str, ...]]:
    networks = meta["networks"]
    out: list[tuple[str, ...]] = []
    per_n = ["p50", "p99", "cpu_ms", "start_first", "start_all", "restart", "kill9", "rss",
             "floor_static", "floor_api"]  # fmt: skip
    first_only = ["rps8", "rps32", "bound_first", "storm"]
    for n in networks:
        keys = per_n + (first_only if n == networks[0] else [])
        for key in keys:
            fig = FIGURES[key]
            (ovn_text, ovn), (up_text, up) = (_cell(res, s, fig, n) for s in SIDES)
            # a floor does not depend on the agent: its two columns show the noise
            adv = None if key.startswith("floor") else _advantage(fig, ovn, up)
            label = f"{fig.label}, {_networks(n)}"
            if key == "storm":
                label = f"boot storm of {meta['storm']} on one compute: all read by cloud-init"
            notes = ""
            if key == "p50":
                notes = _overhead(res, n)
            out.append(
                (label, ovn_text, up_text, f"{adv:.1f}x" if adv else "-",
                 _goal(fig, key, n, ovn, adv, res, networks), notes)
            )  # fmt: skip
    return out


def _networks(n: int) -> str:
    return f"{n} network{'s' if n != 1 else ''}"


def _overhead(res, n: int) -> str:
    """The agent's own p50 above the static floor (goal <= 0.3 ms for ovnmeta)."""
    parts = []
    for side in SIDES:
        p50 = res.values[side]["p50"].get(n)
        floor = res.values[side]["floor_static"].get(n)
        if p50 and floor:
            parts.append(f"{side} {statistics.median(p50) - statistics.median(floor):+.2f} ms")
    if not parts:
        return ""
    return "above the static floor: " + ", ".join(parts) + " (goal ovnmeta <= 0.3 ms)"


def text_table(table_rows: list[tuple[str, ...]]) -> str:
    return tables.render(HEAD, table_rows)


def markdown(table_rows: list[tuple[str, ...]], meta: dict, pngs: list[Path]) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = [
        "# ovnmeta against upstream, same run",
        "",
        f"`bench/upstream_bench.py{' --quick' if meta['mode'].startswith('quick') else ''}` "
        f"on {meta['date']}, {meta['machine']}; {meta['mode']} mode: networks "
        f"{', '.join(map(str, meta['networks']))}, {meta['rounds']} round(s) per agent, "
        f"alternating; {meta['minutes']:.1f} minutes. Upstream: {meta['upstream']}. Load "
        f"average {meta['load'][0][0]:.1f} at the start, {meta['load'][1][0]:.1f} at the end "
        "(a shared machine: ratios matter, not absolutes). ADVANTAGE is how many times better "
        "ovnmeta is (> 1: ovnmeta better); with several rounds a value is their median, "
        "[min-max] after it.",
        "",
        "| " + " | ".join(HEAD) + " |",
        "|" + "---|" * len(HEAD),
        *("| " + " | ".join(esc(c) for c in row) + " |" for row in table_rows),
        "",
        *(f"![{p.stem}]({p.name})" for p in pngs),
        "",
    ]
    return "\n".join(lines)


def plots(res, meta: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    colors = {"ovnmeta": "tab:blue", "upstream": "tab:red"}
    stamp = f"{meta['date']}, {meta['machine'].split(':')[0]}, {meta['mode']}"

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for side in SIDES:
        samples = res.samples.get(side)
        if samples:
            ys = [(i + 1) / len(samples) for i in range(len(samples))]
            ax.plot(samples, ys, label=f"{side} (n={len(samples)})", color=colors[side])
    ax.set_xscale("log")
    ax.set_xlabel("GET meta_data.json latency, ms (log scale), 1 network, new connection each")
    ax.set_ylabel("fraction of requests")
    ax.set_title(f"Latency CDF ({stamp})", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    made.append(_save(fig, out / "latency-cdf.png"))

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    panels = [
        ("p50", "GET p50, ms", _first),
        ("start_all", "cold start -> all served, s", _first),
        ("rss", "RSS, MB", _first),
    ]
    for ax, (key, title, pick) in zip(axes, panels, strict=True):
        for side in SIDES:
            points = [
                (n, statistics.median(pick(v) for v in vals))
                for n, vals in sorted(res.values[side][key].items())
                if vals
            ]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=side, color=colors[side])
        ax.set_xlabel("networks on the compute")
        ax.set_xticks(meta["networks"])
        ax.set_ylim(bottom=0)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(f"Against the number of networks ({stamp})", fontsize=9)
    made.append(_save(fig, out / "vs-networks.png"))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for side in SIDES:
        for i, outcomes in enumerate(res.storms.get(side, [])):
            done = sorted(o.seconds for o in outcomes if o.ok)
            if done:
                ax.step(done, range(1, len(done) + 1), where="post", color=colors[side],
                        alpha=1 if i == 0 else 0.5,
                        label=f"{side}" + (f" round {i + 1}" if i else ""))  # fmt: skip
        addresses = sorted(o.address for o in (res.storms.get(side) or [[]])[0] if o.address)
        if addresses:
            ax.step(addresses, range(1, len(addresses) + 1), where="post", color=colors[side],
                    linestyle=":", label=f"{side}: address up (DHCP)")  # fmt: skip
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds since the storm started")
    ax.set_ylabel("instances whose cloud-init read its metadata")
    ax.set_title(f"Boot storm of {meta['storm']} on one compute ({stamp})", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend()
    made.append(_save(fig, out / "boot-storm.png"))
    return made


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
