"""Where task pages load images from: http(s) URLs, a user's --base-url, S3, or inline data."""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from turkops.db.models import Input
from turkops.domain import InputError, ProviderError
from turkops.studyfiles import is_url
from turkops.wiring import Runtime

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


# SigV4 presigned URLs live at most 7 days (S3 docs, "Sharing objects with presigned URLs").
MAX_PRESIGN_SECONDS = 7 * 24 * 3600


def publish_images(
    rt: Runtime,
    name: str,
    bucket: str,
    s3_client: Any,
    prefix: str = "",
    expires_seconds: int = MAX_PRESIGN_SECONDS,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Upload the study's local images to S3 and record presigned URLs for the task pages.

    The URLs must outlive the HITs: a worker who opens a task on its last day must still see
    the images, so expiry must exceed the HIT lifetime plus the assignment duration.
    """
    from botocore.exceptions import BotoCoreError, ClientError  # only this command needs boto

    s = rt.settings
    needed = s.hit_lifetime_seconds + s.assignment_duration_seconds
    if expires_seconds > MAX_PRESIGN_SECONDS:
        raise InputError("presigned S3 URLs can live at most 7 days (604800 s)")
    if expires_seconds <= needed:
        raise InputError(
            f"presigned URLs would expire after {expires_seconds} s, before the HITs do "
            f"({needed} s = TURKOPS_HIT_LIFETIME_SECONDS + assignment duration): shorten the "
            "HIT lifetime or host the images yourself (--base-url)"
        )
    with rt.transaction() as repo:
        study = repo.study(name)
        todo = [(i.id, i.image, i.image_path) for i in repo.inputs(study.id) if i.image_path]
    done = 0
    for input_row_id, image, path in todo:
        key = f"{prefix.strip('/')}/{name}/{image.lstrip('/')}".lstrip("/")
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot read image ({exc.strerror})") from None
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        try:
            s3_client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=mime)
            url = s3_client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_seconds
            )
        except (BotoCoreError, ClientError) as exc:
            # After botocore's own retries: unreachable endpoint, no credentials, access denied.
            raise ProviderError(
                f"uploading {key} to S3 bucket {bucket!r} failed ({done} of {len(todo)} "
                f"uploaded; a re-run uploads again): {type(exc).__name__}: {exc}"
            ) from None
        with rt.transaction() as repo:
            row = repo.session.get(Input, input_row_id)
            assert row is not None
            row.url = url
        done += 1
        if progress:
            progress(done, len(todo))
    with rt.transaction() as repo:
        repo.log(
            repo.study(name).id,
            "images.published",
            f"s3://{bucket}/{prefix}",
            n=done,
            expires_seconds=expires_seconds,
        )
    return done
