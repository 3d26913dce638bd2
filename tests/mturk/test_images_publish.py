"""`images publish`: uploads with the exact S3 request and records presigned URLs."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.stub import ANY, Stubber

from turkops.domain import InputError
from turkops.services.images import publish_images
from turkops.services.studies import create_study
from turkops.wiring import Runtime


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
