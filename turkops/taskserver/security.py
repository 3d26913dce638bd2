"""Signed session tokens, CSRF tokens and the server's secret key.

A session token is "<session id>.<HMAC>": it names the session and proves the server issued
it, so a participant cannot act for another by changing a number. The CSRF token is an HMAC
of the session id and a random per-browser cookie (double submit bound to the session): a
page on another site can neither read the cookie nor compute the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from turkops.config import Settings

SECRET_FILE = "secret_key"
CSRF_COOKIE = "turkops_csrf"


def load_secret(settings: Settings) -> bytes:
    """TURKOPS_SECRET_KEY, else the key kept in DATA_DIR/secret_key (created once, mode 600).

    Several worker processes may start at once: the file is written under a temporary name
    and linked into place, so every process reads the same complete key.
    """
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value().encode()
    folder = Path(settings.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SECRET_FILE
    if not path.exists():
        tmp = folder / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first; use theirs
        finally:
            tmp.unlink()
    return path.read_text().strip().encode()


def _mac(secret: bytes, message: str) -> str:
    digest = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign_session(secret: bytes, session_id: int) -> str:
    return f"{session_id}.{_mac(secret, f'session|{session_id}')}"


def verify_session(secret: bytes, token: str) -> int | None:
    """The session id of a valid token, else None."""
    sid, _, mac = token.partition(".")
    if not sid.isdigit() or len(sid) > 18 or not mac:
        return None
    if not hmac.compare_digest(mac, _mac(secret, f"session|{int(sid)}")):
        return None
    return int(sid)


def new_csrf_cookie() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(secret: bytes, session_id: int, cookie: str) -> str:
    return _mac(secret, f"csrf|{session_id}|{cookie}")


def verify_csrf(secret: bytes, session_id: int, cookie: str | None, token: str | None) -> bool:
    if not cookie or not token:
        return False
    return hmac.compare_digest(token, csrf_token(secret, session_id, cookie))
