"""The backend client against a raw TCP server that answers with scripted bytes."""

import asyncio
import dataclasses
import ipaddress
import logging

import pytest

from ovnmeta.agent.proxy import forward, guestlog, lookup, request
from ovnmeta.agent.proxy.upstream import Upstream
from tests.unit.agent.proxy.test_server import settings

FOUND = lookup.Found("i-1", "proj1", "p1")
GUEST = request.Guest("net", ipaddress.ip_address("10.0.0.11"))


async def serve(answers: list[bytes]):
    """A server that reads one request head per answer and writes the next answer; an
    answer of b"" closes the connection (a backend restart under a pooled connection)."""
    seen: list[bytes] = []

    async def handle(reader, writer):
        while answers:
            try:
                seen.append(await reader.readuntil(b"\r\n\r\n"))
            except asyncio.IncompleteReadError:
                break
            answer = answers.pop(0)
            if not answer:
                break
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


async def exchange(tmp_path, answers, method="GET", calls=1):
    server, port, seen = await serve(answers)
    up = Upstream(settings(tmp_path, port), guestlog.GuestLog(60, logging.getLogger("t")))
    await up.open()
    base = f"http://127.0.0.1:{port}"
    replies = []
    try:
        for _ in range(calls):
            call = forward.build(FOUND, "10.0.0.11", method, "/x", b"", base, "s")
            replies.append(await up.call(call, FOUND, GUEST))
    finally:
        await up.close()
        server.close()
    return replies, seen


def run(coro):
    return asyncio.run(coro)


def test_chunked_answer_is_joined_and_the_connection_reused(tmp_path):
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n"
    )
    replies, seen = run(exchange(tmp_path, [chunked, chunked], calls=2))
    assert [r.body for r in replies] == [b"abcde"] * 2
    assert len(seen) == 2


def test_answer_until_close(tmp_path):
    replies, _ = run(exchange(tmp_path, [b"HTTP/1.1 200 OK\r\n\r\nall of it"]))
    assert (replies[0].status, replies[0].body) == (200, b"all of it")


def test_interim_1xx_is_skipped(tmp_path):
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    replies, _ = run(exchange(tmp_path, [answer]))
    assert replies[0].body == b"ok"


def test_garbage_or_oversized_answers_give_503(tmp_path, monkeypatch):
    monkeypatch.setattr("ovnmeta.agent.proxy.upstream.MAX_RESPONSE_BYTES", 4)
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n12345"
    replies, _ = run(exchange(tmp_path, [big]))
    assert replies[0].status == 503
    replies, _ = run(exchange(tmp_path, [b"SSH-2.0-OpenSSH\r\n\r\n"]))
    assert replies[0].status == 503


def test_a_pooled_connection_closed_under_us_is_retried_for_reads_only(tmp_path):
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    # First call fills the pool; the server then closes that connection on the next request.
    replies, seen = run(exchange(tmp_path, [ok, b"", ok], calls=2))
    assert [r.status for r in replies] == [200, 200]
    assert len(seen) == 3
    replies, _ = run(exchange(tmp_path, [ok, b"", ok], method="POST", calls=2))
    assert [r.status for r in replies] == [200, 503]


@pytest.mark.parametrize("timeout", [0.2])
def test_timeout_gives_504(tmp_path, timeout):
    async def go():
        async def silent(reader, writer):
            await asyncio.sleep(5)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        s = dataclasses.replace(settings(tmp_path, port), nova_request_timeout_s=timeout)
        up = Upstream(s, guestlog.GuestLog(60, logging.getLogger("t")))
        await up.open()
        call = forward.build(FOUND, "10.0.0.11", "GET", "/x", b"", s.nova_base_url, "s")
        try:
            return await up.call(call, FOUND, GUEST)
        finally:
            await up.close()
            server.close()

    assert run(go()).status == 504
