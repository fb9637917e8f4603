"""Requests/s of `ovnmeta metadata-api` for one document on loopback.

Starts the real server process (`python -m ovnmeta metadata-api --port 0`) on a throwaway
store with one instance, then an aiohttp client sends --count signed GETs with --concurrency
keep-alive connections. The client shares the machine's CPUs with the server, so the figure
is a floor. No root needed; `make bench` runs it:
`.venv/bin/python bench/metadata_api_bench.py [--count N] [--concurrency N]`.
"""

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from ovnmeta.core.signing import sign_instance_id
from ovnmeta.metadata_api import model, store

UUID = "b65cee2f-8c69-4aeb-be2f-f79742548fc2"
SECRET = "bench-secret"
PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f b"


async def _worker(session: aiohttp.ClientSession, url: str, headers: dict, todo: list) -> int:
    errors = 0
    while todo:
        todo.pop()
        async with session.get(url, headers=headers) as reply:
            await reply.read()
            errors += reply.status != 200
    return errors


async def _bench(url: str, count: int, concurrency: int) -> tuple[float, int]:
    headers = {
        "X-Instance-ID": UUID,
        "X-Tenant-ID": "bench",
        "X-Instance-ID-Signature": sign_instance_id(SECRET, UUID),
    }
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        warm = [0] * min(200, count)
        await asyncio.gather(*(_worker(session, url, headers, warm) for _ in range(concurrency)))
        todo = [0] * count
        start = time.perf_counter()
        errors = await asyncio.gather(
            *(_worker(session, url, headers, todo) for _ in range(concurrency))
        )
        return time.perf_counter() - start, sum(errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--path", default="/openstack/latest/meta_data.json")
    parser.add_argument("--cache-ttl", type=int, default=15, help="metadata_cache_expiration")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ovnmeta-bench-") as tmp:
        db = Path(tmp) / "instances.sqlite3"
        with store.InstanceStore(db) as instances:
            instances.add(
                model.InstanceRecord(
                    uuid=UUID, name="bench", hostname="bench", project_id="bench",
                    key_pairs=(model.KeyPair("k", PUBKEY),), user_data=b"#cloud-config\n",
                    metadata=(("role", "bench"),),
                )
            )  # fmt: skip
        secret = Path(tmp) / "secret"
        secret.write_text(SECRET)
        server = subprocess.Popen(
            [
                sys.executable, "-m", "ovnmeta", "metadata-api", "--db", str(db),
                "--listen", "127.0.0.1", "--port", "0", "--shared-secret-file", str(secret),
                "--cache-ttl", str(args.cache_ttl),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            port = None
            assert server.stderr is not None
            for line in server.stderr:
                match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
                if match:
                    port = int(match.group(1))
                    break
            if port is None:
                print("bench: server did not start", file=sys.stderr)
                return 1
            url = f"http://127.0.0.1:{port}{args.path}"
            elapsed, errors = asyncio.run(_bench(url, args.count, args.concurrency))
        finally:
            server.terminate()
            server.wait(timeout=15)
    rate = args.count / elapsed
    print(
        f"{args.path}: {args.count} requests, concurrency {args.concurrency}, "
        f"{elapsed:.2f} s, {rate:.0f} requests/s, {errors} non-200"
    )
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
