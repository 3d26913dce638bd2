"""The HTTP side: MTurk's JSON API on POST /, the worker pages, /_admin/, and fault injection.

Stdlib only (ThreadingHTTPServer, HTTP/1.1 keep-alive so boto3 reuses its connections).
Signatures are accepted without checking: the server is meant for loopback.
"""

from __future__ import annotations

import json
import logging
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
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send(json_response(413, {"error": f"body over {MAX_BODY_BYTES} bytes"}))
            return None
        return self.rfile.read(length) if length else b""

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
            self._send(admin.handle_admin(self.ctx, path.removeprefix("/_admin/"), "GET", b""))
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
            name = path.removeprefix("/_admin/")
            self._send(admin.handle_admin(self.ctx, name, "POST", body))
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
