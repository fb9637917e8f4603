"""The answer to the guest, as a value; the server writes it out."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


def error(status: int, message: str) -> Reply:
    """Replies the proxy makes itself: small HTML, text/plain content type, as upstream."""
    title = f"{status} {HTTPStatus(status).phrase}"
    body = (
        f"<html>\n <head>\n  <title>{title}</title>\n </head>\n <body>\n  <h1>{title}</h1>\n"
        f"  {message}<br /><br />\n\n\n </body>\n</html>"
    ).encode()
    return Reply(
        status,
        (("Content-Type", "text/plain; charset=UTF-8"), ("Connection", "close")),
        body,
    )


def not_found(network: str) -> Reply:
    return error(404, f"Instance was not found on network {network}.")


def unavailable(retry_after_s: int | None = None) -> Reply:
    return _retry_after(
        error(
            503, "The remote metadata server is temporarily unavailable. Please try again later."
        ),
        retry_after_s,
    )


def too_many_requests(retry_after_s: int) -> Reply:
    return _retry_after(
        error(429, "Too many requests from this instance or network. Please try again later."),
        retry_after_s,
    )


def _retry_after(answer: Reply, seconds: int | None) -> Reply:
    if seconds is None:
        return answer
    return Reply(answer.status, (*answer.headers, ("Retry-After", str(seconds))), answer.body)


def bad_request(message: str) -> Reply:
    return error(400, message)


def internal_error() -> Reply:
    return error(500, "An unknown error has occurred. Please try your request again.")
