"""Issue 10 item 9: no error about TURKOPS_DATABASE_URL shows the database password."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from tests.conftest import PG_URL
from turkops.cli import app

SECRET = "S3cr3t-pw"


def _real_server(query: str) -> str:
    """The test PostgreSQL server's URL with a password and a query (trust auth ignores it)."""
    url = make_url(PG_URL).set(password=SECRET)
    return url.render_as_string(hide_password=False) + query


BAD_URLS = [
    f"postgresql+psycopg://alice:{SECRET}@db.example:abc/study",  # non-numeric port
    f"postgresql+psycopg://alice:{SECRET}@[::1/study",  # broken IPv6 literal
    f"postgres ql://alice:{SECRET}@db.example/study",  # not a URL at all
    f"alice:{SECRET}@db.example/study",  # no scheme
    f"postgresql+nodriver://alice:{SECRET}@db.example/study",  # unknown driver
    f"postgresql+psycopg://alice:{SECRET}@127.0.0.1:1/study",  # nothing listens
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_malformed_database_url_error_masks_the_password(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURKOPS_DATABASE_URL", url)
    result = CliRunner().invoke(app, ["study", "list"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert SECRET not in result.output
    assert "***" in result.output


def test_driver_refusal_on_a_real_server_masks_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # psycopg refuses an unknown connection option: an error raised by the real server's driver.
    monkeypatch.setenv("TURKOPS_DATABASE_URL", _real_server("?no_such_option=1"))
    result = CliRunner().invoke(app, ["study", "list"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: cannot open database ")
    assert "no_such_option" in result.output and SECRET not in result.output


def test_mask_helpers_cover_encoded_passwords() -> None:
    from turkops.db.engine import mask_password, masked_url

    url = "postgresql+psycopg://bob:p%40ss%2Fw0rd@h:5432/d"
    assert masked_url(url) == "postgresql+psycopg://bob:***@h:5432/d"
    assert mask_password("failed for p@ss/w0rd and p%40ss%2Fw0rd", url) == "failed for *** and ***"
