"""A hostile guest and its victim, for tests and benches: run inside an instance's namespace.

A standalone script (stdlib only, never imports ovnmeta) so that it starts fast under
/usr/bin/python3 inside `ip netns exec`; `argv()` builds its command line. Every mode is
bounded in time (SIGTERM ends it early, still printing its report), closes every socket it
opened and prints one JSON document on stdout:

    hold HOST N SECONDS             N connections, each sends a request head without its
                                    final CRLF, then nothing (connection exhaustion); one
                                    the server closes is opened again
    slowloris HOST N SECONDS GAP    the same, but one more header line every GAP seconds
    slowbody HOST N SECONDS GAP     complete POST heads announcing 100 kB of body, then one
                                    byte of it every GAP seconds
    flood HOST THREADS SECONDS [keepalive]
                                    back-to-back GETs, a new connection each (or one
                                    kept-alive connection per thread)
    burn HOST SECONDS               one busy thread, no requests (a CPU-only neighbour)
    probe HOST SECONDS GAP          the victim: GET meta_data.json every GAP seconds with a
                                    10 s bound; one record per request
    latency HOST N                  N sequential GETs of meta_data.json, a new connection each:
                                    {"ms": [...answered], "failed": n, "failures": {status: n}}
    raw HOST TIMEOUT                JSON list of {"name", "data"} on stdin (latin-1 text):
                                    send each on its own connection, return what came back
"""

from __future__ import annotations

import contextlib
import http.client
import json
import resource
import selectors
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

SYSTEM_PYTHON = "/usr/bin/python3"
META_PATH = "/openstack/latest/meta_data.json"
HEAD = b"GET / HTTP/1.1\r\nHost: x\r\n"  # no final CRLF: the server waits for more
# A complete head announcing a body that never comes (but for a byte now and then).
SLOW_POST = (
    b"POST /openstack/latest/password HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"
)
BOUND_S = 10.0  # the victim's patience for one request (curl -m 10)
STOP = threading.Event()  # set by SIGTERM: finish now, report what was done


def argv(*args: str) -> list[str]:
    """The command line that runs this script (prefix it with `ip netns exec NS`)."""
    return [SYSTEM_PYTHON, "-I", str(Path(__file__).resolve()), *args]


def _raise_nofile(n: int) -> None:
    # Thousands of sockets: the default soft limit is 1024 (root may lift the hard one).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256
    if hard != resource.RLIM_INFINITY and hard < want:
        hard = want
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


CONNECT_S = 5.0  # a SYN unanswered this long: the listen backlog is full
REOPEN_PER_S = 250.0  # re-connects a second at most: pressure, not a connection flood


def _hold(
    host: str,
    n: int,
    seconds: float,
    gap: float | None,
    head: bytes = HEAD,
    trickle: bytes = b"X-a: b\r\n",
) -> dict[str, Any]:
    """Keep n connections open for `seconds`, each with `head` sent (and `trickle` every
    `gap` s if given); a connection the server closes is opened again, so timeouts alone do
    not relieve the pressure."""
    _raise_nofile(n)
    start = time.monotonic()
    sel = selectors.DefaultSelector()
    connecting: dict[socket.socket, float] = {}  # socket -> connect deadline
    counts: Counter[str] = Counter()
    answered: Counter[str] = Counter()  # what the server said before closing (408, 429...)
    first_close: float | None = None

    def open_one() -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((host, 80))
        sel.register(s, selectors.EVENT_WRITE)
        connecting[s] = time.monotonic() + CONNECT_S
        counts["opened"] += 1

    def drop(s: socket.socket) -> None:
        sel.unregister(s)
        s.close()

    try:
        for _ in range(n):
            open_one()
        lost = 0  # slots to open again
        budget, budget_at = 0.0, start  # token bucket for re-connects
        next_trickle = start + gap if gap else float("inf")
        while (now := time.monotonic()) < start + seconds and not STOP.is_set():
            for key, _ in sel.select(timeout=0.2):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                if connecting.pop(s, None) is not None:
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                        counts["connect_failed"] += 1
                        drop(s)
                        lost += 1
                        continue
                    counts["connected"] += 1
                    with contextlib.suppress(OSError):  # a reset: the read below notices
                        s.send(head)
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if data[:5] == b"HTTP/":
                    answered[data.split(b" ", 2)[1].decode(errors="replace")] += 1
                counts["closed_by_server"] += 1
                first_close = first_close if first_close is not None else now - start
                drop(s)
                lost += 1
            for s, deadline in list(connecting.items()):
                if now > deadline:
                    del connecting[s]
                    counts["connect_failed"] += 1
                    drop(s)
                    lost += 1
            budget = min(REOPEN_PER_S, budget + (now - budget_at) * REOPEN_PER_S)
            budget_at = now
            while lost and budget >= 1:
                open_one()
                lost -= 1
                budget -= 1
            if now >= next_trickle:
                next_trickle += gap or 0
                for key in list(sel.get_map().values()):
                    if key.fileobj not in connecting:
                        with contextlib.suppress(OSError):  # a reset: the read notices
                            key.fileobj.send(trickle)  # type: ignore[union-attr]
        return {
            "slots": n,
            **{k: counts[k] for k in ("opened", "connected", "connect_failed")},
            "closed_by_server": counts["closed_by_server"],
            "first_close_s": None if first_close is None else round(first_close, 2),
            "answered": dict(answered),
            "held_at_end": len(sel.get_map()) - len(connecting),
        }
    finally:
        for key in list(sel.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        sel.close()


def _get(host: str, path: str, timeout: float = BOUND_S) -> tuple[int, bytes]:
    """One GET on a new connection, bounded in total time; status 0 for no answer."""
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, 80), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            chunks = []
            while (left := deadline - time.monotonic()) > 0:
                s.settimeout(left)
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError:
        return 0, b""
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    try:
        return int(head.split(b" ", 2)[1]), body
    except (IndexError, ValueError):
        return 0, raw


def _flood(host: str, threads: int, seconds: float, keepalive: bool) -> dict[str, Any]:
    counts: Counter[int] = Counter()
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def one_keepalive(conn: http.client.HTTPConnection) -> int:
        try:
            conn.request("GET", META_PATH)
            answer = conn.getresponse()
            answer.read()
            if answer.will_close:
                conn.close()  # the next request connects again
            return answer.status
        except (OSError, http.client.HTTPException):
            conn.close()
            return 0

    def run() -> None:
        conn = http.client.HTTPConnection(host, 80, timeout=5)
        try:
            while time.monotonic() < end and not STOP.is_set():
                status = one_keepalive(conn) if keepalive else _get(host, META_PATH, 5)[0]
                with lock:
                    counts[status] += 1
        finally:
            conn.close()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return {"requests": sum(counts.values()), "status": {str(k): v for k, v in counts.items()}}


def _burn(seconds: float) -> dict[str, Any]:
    end, turns = time.monotonic() + seconds, 0
    while time.monotonic() < end and not STOP.is_set():
        turns += 1
    return {"turns": turns}


def _probe(host: str, seconds: float, gap: float) -> list[dict[str, Any]]:
    records = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        status, body = _get(host, META_PATH)
        try:
            uuid = json.loads(body)["uuid"] if status == 200 else None
        except (ValueError, KeyError):
            uuid = None
        records.append({"status": status, "uuid": uuid, "s": round(time.monotonic() - t0, 4)})
        time.sleep(gap)
    return records


def _latency(host: str, n: int) -> dict[str, Any]:
    ms, failures = [], Counter()
    for _ in range(n):
        t0 = time.perf_counter()
        status, _ = _get(host, META_PATH)
        if status == 200:
            ms.append(round((time.perf_counter() - t0) * 1000, 3))
        else:
            failures[str(status)] += 1
    return {"ms": ms, "failed": sum(failures.values()), "failures": dict(failures)}


def _raw(host: str, timeout: float, cases: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    def one(case: dict[str, str]) -> dict[str, str]:
        got = []
        deadline = time.monotonic() + timeout
        try:
            with socket.create_connection((host, 80), timeout=timeout) as s:
                s.sendall(case["data"].encode("latin-1"))
                while (left := deadline - time.monotonic()) > 0:
                    s.settimeout(left)
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got.append(chunk)
        except OSError:
            pass  # a reset or the deadline: keep what came back
        return {"name": case["name"], "response": b"".join(got).decode("latin-1")}

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, cases))


def main(args: Sequence[str]) -> int:
    mode, host, *rest = args
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    result: Any
    if mode == "hold":
        result = _hold(host, int(rest[0]), float(rest[1]), None)
    elif mode == "slowloris":
        result = _hold(host, int(rest[0]), float(rest[1]), float(rest[2]))
    elif mode == "slowbody":
        result = _hold(host, int(rest[0]), float(rest[1]), float(rest[2]), SLOW_POST, b"p")
    elif mode == "flood":
        result = _flood(host, int(rest[0]), float(rest[1]), rest[2:] == ["keepalive"])
    elif mode == "burn":
        result = _burn(float(rest[0]))
    elif mode == "probe":
        result = _probe(host, float(rest[0]), float(rest[1]))
    elif mode == "latency":
        result = _latency(host, int(rest[0]))
    elif mode == "raw":
        result = _raw(host, float(rest[0]), json.load(sys.stdin))
    else:
        print(f"unknown mode {mode!r}", file=sys.stderr)
        return 2
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
