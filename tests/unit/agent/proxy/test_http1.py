import pytest

from ovnmeta.agent.proxy import http1

FOUR = (("X-Forwarded-For", "10.0.0.11"), ("X-Instance-ID", "i-1"))


def test_request_has_host_our_headers_and_a_length_only_with_a_body():
    get = http1.encode_request("GET", "/openstack?x=1", "10.0.0.1:8775", FOUR, b"")
    assert get == (
        b"GET /openstack?x=1 HTTP/1.1\r\nHost: 10.0.0.1:8775\r\n"
        b"X-Forwarded-For: 10.0.0.11\r\nX-Instance-ID: i-1\r\n\r\n"
    )
    post = http1.encode_request("POST", "/p", "h", (), b"pw")
    assert post == b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\npw"
    assert b"Content-Length: 0" in http1.encode_request("POST", "/p", "h", (), b"")


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/a b", ()),
        ("/a\r\nX-Instance-ID: other", ()),
        ("/", (("X-Forwarded-For", "1\r\nX-Evil: 1"),)),
        ("/", (("X-Tenant-ID", "t\x00"),)),
    ],
)
def test_a_request_cannot_be_split(target, headers):
    with pytest.raises(ValueError, match="control character or space"):
        http1.encode_request("GET", target, "h", headers, b"")


def head(text: str, method: str = "GET") -> http1.Head:
    return http1.parse_head(text.encode("latin-1"), method)


def test_content_length_keep_alive():
    h = head("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n")
    assert (h.status, h.length, h.chunked, h.keep_alive) == (200, 12, False, True)
    assert h.headers == (("Content-Type", "text/plain"), ("Content-Length", "12"))


@pytest.mark.parametrize(
    ("text", "length", "chunked", "keep_alive"),
    [
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", None, True, True),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", None, False, False),
        ("HTTP/1.1 200 OK\r\n\r\n", None, False, False),  # until the connection closes
        ("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", 1, False, False),
        ("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", 1, False, False),
        ("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n", 1, False, True),
        ("HTTP/1.1 204 No Content\r\n\r\n", 0, False, True),
        ("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", 0, False, True),
        ("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n", 7, False, True),
    ],
)
def test_framing(text, length, chunked, keep_alive):
    h = head(text)
    assert (h.length, h.chunked, h.keep_alive) == (length, chunked, keep_alive)


def test_head_request_has_no_body_and_1xx_is_interim():
    assert head("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", "HEAD").length == 0
    assert head("HTTP/1.1 100 Continue\r\n\r\n").interim
    assert not head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").interim


@pytest.mark.parametrize(
    "text",
    [
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/2 200\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\n Folded: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    ],
)
def test_malformed_heads_are_refused(text):
    with pytest.raises(http1.ProtocolError):
        head(text)


def test_chunk_size():
    assert http1.chunk_size(b"1a\r\n") == 26
    assert http1.chunk_size(b"0;ext=1\r\n") == 0
    for bad in (b"\r\n", b"-1\r\n", b"0x10\r\n", b"zz\r\n"):
        with pytest.raises(http1.ProtocolError):
            http1.chunk_size(bad)
