"""`images publish`: uploads with the exact S3 request and records presigned URLs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

from turkops.config import Settings
from turkops.domain import InputError, ProviderError
from turkops.services.images import publish_images
from turkops.services.studies import create_study
from turkops.wiring import Runtime, open_runtime


def test_publish_uploads_and_records_urls(rt: Runtime, study_files: dict[str, Path]) -> None:
    create_study(
        rt, "s", study_files["inputs"], study_files["activations"], study_files["explanations"]
    )
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(signature_version="s3v4"),
    )
    with Stubber(s3) as stub:
        for i in range(30):
            stub.add_response(
                "put_object",
                {},
                {"Bucket": "b", "Key": f"p/s/img/{i}.png", "Body": ANY, "ContentType": "image/png"},
            )
        n = publish_images(rt, "s", "b", s3, prefix="p", expires_seconds=6 * 86400)
        stub.assert_no_pending_responses()
    assert n == 30
    with rt.transaction() as repo:
        urls = [i.url for i in repo.inputs(repo.study("s").id)]
    assert all(u and "/p/s/img/" in u and "X-Amz-Expires=518400" in u for u in urls)
    assert "secret" not in "".join(urls)  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds", [3600, 8 * 86400])
def test_publish_refuses_bad_expiry(
    rt: Runtime, study_files: dict[str, Path], seconds: int
) -> None:
    create_study(
        rt, "s", study_files["inputs"], study_files["activations"], study_files["explanations"]
    )
    with pytest.raises(InputError, match="presigned"):
        publish_images(rt, "s", "b", object(), expires_seconds=seconds)


def test_publish_with_s3_unreachable_is_one_line(
    settings: Settings, study_files: dict[str, Path], tmp_path: Path
) -> None:
    """Issue 10 item 15: S3 unreachable -> one error line and ProviderError's exit code (5)."""
    rt = open_runtime(settings)
    try:
        create_study(
            rt, "s", study_files["inputs"], study_files["activations"], study_files["explanations"]
        )
    finally:
        rt.close()
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TURKOPS_", "AWS_"))}
    env.update(
        TURKOPS_DATABASE_URL=settings.database_url,
        TURKOPS_DATA_DIR=str(settings.data_dir),
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE",
        AWS_SECRET_ACCESS_KEY="not-a-secret",
        AWS_ENDPOINT_URL_S3=f"http://127.0.0.1:{port}",
        AWS_MAX_ATTEMPTS="2",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "turkops", "images", "publish", "s", "--bucket", "b"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == ProviderError.exit_code, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error")]
    assert len(errors) == 1 and "S3 bucket 'b'" in errors[0], proc.stderr
    assert "not-a-secret" not in proc.stderr + proc.stdout
