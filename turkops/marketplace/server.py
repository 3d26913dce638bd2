"""The HTTP side: MTurk's JSON API on POST /, the worker pages, /_admin/, and fault injection.

Stdlib only (ThreadingHTTPServer, HTTP/1.1 keep-alive so boto3 reuses its connections).
Signatures are accepted without checking: the server is meant for loopback.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from turkops.marketplace import admin, pages
from turkops.marketplace.context import MarketplaceContext, Response, json_response
from turkops.marketplace.errors import MTurkError, service_fault, throttling_body
from turkops.marketplace.faults import FaultAction
from turkops.marketplace.protocol import TARGET_PREFIX, dispatch

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
AMZ_JSON = "application/x-amz-json-1.1"
_DIGITS = re.compile(r"[0-9]+")
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def _hostname(authority: str) -> str:
    """'127.0.0.1:8765' / '[::1]:8765' / 'localhost' -> the lower-cased host without port."""
    return (urlsplit(f"//{authority}").hostname or "").rstrip(".").lower()


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


class MarketplaceHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its context and can cut its open connections on stop."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], ctx: MarketplaceContext) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.ctx = ctx
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, MarketplaceHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-answer (killed, timed out) is routine, not a traceback.
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            log.debug("client %s went away: %s", client_address, exc)
        else:
            log.exception("error while serving %s", client_address)

    def close_connections(self) -> None:
        """End keep-alive connections so no handler thread outlives the marketplace."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class MarketplaceHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: MarketplaceHTTPServer
    server_version = "turkops-marketplace"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        log.debug("%s " + format, self.address_string(), *args)

    @property
    def ctx(self) -> MarketplaceContext:
        return self.server.ctx

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 400/411/413 for a bad Content-Length.

        int() would accept '-1' (rfile.read(-1) reads to EOF: no cap) and raise on 'abc', so
        only plain digits are a length. After a refusal the connection closes: where the body
        ends is unknown.
        """
        values = self.headers.get_all("Content-Length") or []
        refusal: Response | None = None
        if not values:
            refusal = json_response(411, {"error": "a POST needs a Content-Length header"})
        elif len(set(values)) != 1 or not _DIGITS.fullmatch(values[0].strip()):
            refusal = json_response(400, {"error": "Content-Length must be one decimal number"})
        elif int(values[0]) > MAX_BODY_BYTES:
            refusal = json_response(413, {"error": f"body over {MAX_BODY_BYTES} bytes"})
        if refusal is not None:
            self.close_connection = True
            self._send(refusal)
            return None
        length = int(values[0])
        return self.rfile.read(length) if length else b""

    def _admin_refusal(self, method: str) -> Response | None:
        """CSRF and DNS-rebinding guard for /_admin/ (they change money, clock and answers).

        A browser page on another site can POST text/plain or a form without a preflight, so a
        POST must say application/json (which needs one we never grant), and any Origin or Host
        must name this server: a loopback name or the bound address, on its port.
        """
        port = int(self.server.server_address[1])
        bound = str(self.server.server_address[0]).lower()
        own = _LOOPBACK_NAMES | {bound}
        host_header = self.headers.get("Host")
        if host_header is not None:
            if _is_wildcard(bound):  # allow_remote on 0.0.0.0: any name of this machine
                own = own | {_hostname(host_header)}
            elif _hostname(host_header) not in own:
                return json_response(403, {"error": "admin requests must name this server"})
        origin = self.headers.get("Origin")
        if origin is not None:
            parts = urlsplit(origin.strip())
            try:
                origin_port = parts.port or 80
            except ValueError:
                origin_port = -1
            name = (parts.hostname or "").rstrip(".").lower()
            if parts.scheme != "http" or name not in own or origin_port != port:
                return json_response(403, {"error": f"cross-origin admin request from {origin!r}"})
        if method == "POST":
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return json_response(
                    415, {"error": "POST /_admin/ needs Content-Type: application/json"}
                )
        return None

    def setup(self) -> None:
        super().setup()
        # Small request/response pairs on a keep-alive connection: without TCP_NODELAY,
        # Nagle + delayed ACK add ~40 ms per call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def _drop(self) -> None:
        """Close the socket without answering (what a dropped connection looks like)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _base_url(self) -> str:
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.ctx.base_url

    def do_GET(self) -> None:  # noqa: N802 (stdlib name)
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        path = parts.path
        if path == "/":
            self._send(pages.index_page(self.ctx))
        elif path.startswith("/preview/"):
            self._send(pages.task_page(self.ctx, path.removeprefix("/preview/"), query))
        elif path.startswith("/work/"):
            hit_id = path.removeprefix("/work/")
            self._send(pages.work_page(self.ctx, hit_id, query, self._base_url()))
        elif path.startswith("/_admin/"):
            refusal = self._admin_refusal("GET")
            name = path.removeprefix("/_admin/")
            self._send(refusal or admin.handle_admin(self.ctx, name, "GET", b""))
        else:
            self._send(json_response(404, {"error": f"no page at {path}"}))

    def do_POST(self) -> None:  # noqa: N802 (stdlib name)
        body = self._read_body()
        if body is None:
            return
        path = urlsplit(self.path).path
        target = self.headers.get("X-Amz-Target")
        if target is not None and path == "/":
            self._api(target, body)
        elif path == "/mturk/externalSubmit":
            self._send(pages.external_submit(self.ctx, body))
        elif path.startswith("/_admin/"):
            refusal = self._admin_refusal("POST")
            name = path.removeprefix("/_admin/")
            self._send(refusal or admin.handle_admin(self.ctx, name, "POST", body))
        else:
            self._send(json_response(404, {"error": f"nothing to POST at {path}"}))

    def _api(self, target: str, body: bytes) -> None:
        if not target.startswith(TARGET_PREFIX):
            payload = {"__type": "UnknownOperationException", "message": f"unknown {target}"}
            self._send(Response(400, json.dumps(payload).encode(), AMZ_JSON))
            return
        operation = target.removeprefix(TARGET_PREFIX)
        self.ctx.stats.record(operation)
        decision = self.ctx.faults.decide(operation)
        if decision.action == FaultAction.DROP_BEFORE:
            self._drop()
            return
        status, payload = self._run(operation, body, decision.action)
        if decision.delay_seconds:
            time.sleep(decision.delay_seconds)
        if decision.action == FaultAction.DROP_AFTER:
            self._drop()
            return
        headers = (("x-amzn-RequestId", str(uuid.uuid4())),)
        self._send(Response(status, json.dumps(payload).encode(), AMZ_JSON, headers))

    def _run(self, operation: str, body: bytes, action: FaultAction) -> tuple[int, Any]:
        if action == FaultAction.THROTTLE:
            return 400, throttling_body()
        if action == FaultAction.SERVICE_FAULT:
            fault = service_fault()
            return fault.http_status, fault.to_json()
        try:
            result = dispatch(self.ctx.store, operation, body)
        except MTurkError as exc:
            return exc.http_status, exc.to_json()
        except Exception:
            log.exception("%s failed inside the marketplace", operation)
            fault = service_fault("Internal error in the local marketplace.")
            return fault.http_status, fault.to_json()
        if operation.startswith("CreateHIT"):
            self.ctx.crowd.wake()
        return 200, result
