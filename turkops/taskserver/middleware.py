"""Pure ASGI middleware: security headers on every response, and a request-body limit."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024  # a task form is ~1 KB; nothing a participant sends is larger


def content_security_policy(form_targets: list[str]) -> str:
    """No inline script or style; images may be inline data or https; forms post to us only.

    form-action also lists the completion URL's origin: browsers apply it to the redirect
    that follows a form post.
    """
    targets = " ".join(["'self'", *form_targets])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
        f"form-action {targets}; base-uri 'none'; frame-ancestors 'none'"
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            # Session tokens travel in URLs: never leak them to image hosts or Prolific.
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                message["headers"] = headers + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """413 for a body over `limit` bytes, whether announced (Content-Length) or streamed.

    Bodies are small, so the whole body is read (and counted) before the app sees it; the
    app never starts on a body that turns out too large.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", []):
            if key == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await _reject(send)
                return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await _reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _reject(send: Send) -> None:
    body = b"<!DOCTYPE html><title>Too large</title><p>Request body too large.</p>"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
