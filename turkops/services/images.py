"""Where task pages load images from: http(s) URLs, a user's --base-url, S3, or inline data."""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from urllib.parse import quote

from turkops.db.models import Input
from turkops.domain import InputError
from turkops.studyfiles import is_url

# Inline images are only for the offline marketplace; MTurk limits Question to 131,072 chars.
MAX_INLINE_BYTES = 48_000


def image_url(inp: Input, base_url: str | None, allow_inline: bool) -> str:
    if inp.url:
        return inp.url
    if is_url(inp.image):
        return inp.image
    if base_url:
        return f"{base_url.rstrip('/')}/{quote(inp.image.lstrip('/'))}"
    if allow_inline and inp.image_path:
        return inline_data_url(Path(inp.image_path))
    raise InputError(
        f"image {inp.image!r} is a local file, which MTurk workers cannot load: run "
        "`turkops images publish STUDY --bucket B` or pass --base-url where you host the images"
    )


def inline_data_url(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read image ({exc.strerror})") from None
    if len(data) > MAX_INLINE_BYTES:
        raise InputError(
            f"{path}: {len(data)} bytes is too large to inline into a local task page; "
            "pass --base-url or publish the images"
        )
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"
