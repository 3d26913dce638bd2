"""Issue 10 items 7 and 8, over real HTTP: /_admin/ is not reachable cross-site, and a bad
Content-Length or a JSON nesting bomb gets a clean 400/411/413 (never no answer, never no cap).
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

import pytest

from tests.marketplace.helpers import admin
from turkops.marketplace import RunningMarketplace
from turkops.marketplace.server import MAX_BODY_BYTES

API_TARGET = "MTurkRequesterServiceV20170117.GetAccountBalance"


def raw_request(market: RunningMarketplace, head: str, body: bytes = b"",
                close_write: bool = False) -> tuple[int, dict[str, Any]]:
    """Send `head` (request line + headers, without the blank line) and `body` on a fresh socket;
    returns (status, JSON answer). No answer at all raises (RemoteDisconnected)."""
    sock = socket.create_connection(("127.0.0.1", market.port), timeout=20)
    try:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()
        data = response.read()
        return response.status, json.loads(data) if data else {}
    finally:
        sock.close()


def post_head(market: RunningMarketplace, path: str, *headers: str) -> str:
    return "\n".join([f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{market.port}", *headers])


def paused_now(market: RunningMarketplace) -> bool:
    return bool(admin(market.url, "stats")["workers_paused"])


# --- item 7: CSRF on /_admin/ --------------------------------------------------------------

@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
     "multipart/form-data; boundary=x", "application/jsonx"],
)
def test_admin_post_needs_a_json_content_type(
    market: RunningMarketplace, content_type: str | None
) -> None:
    body = b"{}"
    headers = [f"Content-Length: {len(body)}"]
    if content_type is not None:
        headers.append(f"Content-Type: {content_type}")
    status, answer = raw_request(market, post_head(market, "/_admin/pause_workers", *headers),
                                 body)
    assert status == 415 and "application/json" in answer["error"]
    assert not paused_now(market)


@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "null", "https://127.0.0.1:{port}", "http://127.0.0.1:1",
     "http://127.0.0.1.evil.example:{port}", "http://localhost.:1"],
)
def test_admin_refuses_a_foreign_origin(market: RunningMarketplace, origin: str) -> None:
    origin = origin.format(port=market.port)
    body = b"{}"
    head = post_head(market, "/_admin/pause_workers", "Content-Type: application/json",
                     f"Content-Length: {len(body)}", f"Origin: {origin}")
    status, answer = raw_request(market, head, body)
    assert status == 403 and "cross-origin" in answer["error"]
    assert not paused_now(market)
    get = "\n".join(["GET /_admin/stats HTTP/1.1", f"Host: 127.0.0.1:{market.port}",
                     f"Origin: {origin}", "Connection: close"])
    assert raw_request(market, get)[0] == 403


def test_admin_refuses_a_rebound_host_name(market: RunningMarketplace) -> None:
    # DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 is same-origin.
    body = b"{}"
    head = "\n".join([
        "POST /_admin/pause_workers HTTP/1.1", f"Host: evil.example:{market.port}",
        "Content-Type: application/json", f"Content-Length: {len(body)}",
        f"Origin: http://evil.example:{market.port}",
    ])
    status, _ = raw_request(market, head, body)
    assert status == 403
    assert not paused_now(market)


@pytest.mark.parametrize("origin", [None, "http://127.0.0.1:{port}", "http://localhost:{port}"])
def test_admin_accepts_its_own_origin_with_json(
    market: RunningMarketplace, origin: str | None
) -> None:
    body = b"{}"
    headers = ["Content-Type: application/json; charset=utf-8", f"Content-Length: {len(body)}"]
    if origin is not None:
        headers.append(f"Origin: {origin.format(port=market.port)}")
    status, answer = raw_request(market, post_head(market, "/_admin/pause_workers", *headers),
                                 body)
    assert (status, answer) == (200, {"paused": True})
    assert paused_now(market)


# --- item 8: Content-Length and JSON depth -------------------------------------------------

@pytest.mark.parametrize("length", ["-1", "abc", "+2", "0x2", "1_0", "2 2", ""])
@pytest.mark.parametrize("path", ["/", "/_admin/stats"])
def test_a_malformed_content_length_is_400(
    market: RunningMarketplace, length: str, path: str
) -> None:
    # Content-Length: -1 used to read to EOF (no 16 MB cap); 'abc' raised ValueError (no answer).
    head = post_head(market, path, "Content-Type: application/json",
                     f"X-Amz-Target: {API_TARGET}", f"Content-Length: {length}")
    status, answer = raw_request(market, head, b"{}" + b" " * 1024, close_write=True)
    assert status == 400 and "Content-Length" in answer["error"]
    assert admin(market.url, "stats")["total_calls"] == 0  # nothing ran


def test_two_different_content_lengths_are_400(market: RunningMarketplace) -> None:
    head = post_head(market, "/", f"X-Amz-Target: {API_TARGET}", "Content-Length: 2",
                     "Content-Length: 200")
    assert raw_request(market, head, b"{}", close_write=True)[0] == 400


def test_a_post_without_content_length_is_411(market: RunningMarketplace) -> None:
    head = post_head(market, "/", f"X-Amz-Target: {API_TARGET}")
    status, answer = raw_request(market, head, b"{}", close_write=True)
    assert status == 411 and "Content-Length" in answer["error"]


def test_a_body_over_the_cap_is_413_before_it_is_read(market: RunningMarketplace) -> None:
    # The body is never sent: the answer must come from the header alone.
    head = post_head(market, "/", f"X-Amz-Target: {API_TARGET}",
                     f"Content-Length: {MAX_BODY_BYTES + 1}")
    status, answer = raw_request(market, head)
    assert status == 413 and str(MAX_BODY_BYTES) in answer["error"]


@pytest.mark.parametrize("path", ["/_admin/faults", "/"])
def test_a_json_nesting_bomb_is_400(market: RunningMarketplace, path: str) -> None:
    body = b"[" * 200_000 + b"]" * 200_000
    head = post_head(market, path, "Content-Type: application/json",
                     f"X-Amz-Target: {API_TARGET}", f"Content-Length: {len(body)}")
    status, answer = raw_request(market, head, body)
    assert status == 400
    message = answer.get("error") or answer.get("Message") or ""
    assert "JSON" in message
    # The server is still healthy and the fault knobs unchanged.
    assert admin(market.url, "faults") == admin(market.url, "faults", {})
