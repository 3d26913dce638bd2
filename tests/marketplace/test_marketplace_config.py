"""Configuration, truth files, loopback-only binding and the `turkops marketplace serve` CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.marketplace.helpers import make_client
from turkops.domain import InputError, NotFoundError
from turkops.marketplace import (
    DEFAULT_PORT,
    DEFAULT_URL,
    FaultConfig,
    MarketplaceConfig,
    RunningMarketplace,
    default_db_path,
    is_loopback,
    load_truth,
)


def test_defaults_and_loopback_only(market: RunningMarketplace) -> None:
    assert DEFAULT_PORT == 8765 and DEFAULT_URL == "http://127.0.0.1:8765"
    assert market.url.startswith("http://127.0.0.1:")
    assert MarketplaceConfig().host == "127.0.0.1"
    with pytest.raises(ValueError, match="allow_remote"):
        MarketplaceConfig(host="0.0.0.0")
    assert MarketplaceConfig(host="0.0.0.0", allow_remote=True).host == "0.0.0.0"
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.2", "example.com", "::"))


def test_ipv6_loopback(start: object) -> None:
    m: RunningMarketplace = start(host="::1")  # type: ignore[operator]
    assert m.url.startswith("http://[::1]:")
    assert make_client(m.url).get_account_balance()["AvailableBalance"] == "10000.00"


def test_default_db_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TURKOPS_MARKETPLACE_DB", raising=False)
    assert default_db_path() == Path.home() / ".turkops" / "marketplace.sqlite"
    monkeypatch.setenv("TURKOPS_MARKETPLACE_DB", str(tmp_path / "m.sqlite"))
    assert default_db_path() == tmp_path / "m.sqlite"
    assert MarketplaceConfig().resolved_db_path() == tmp_path / "m.sqlite"


def test_load_truth(tmp_path: Path) -> None:
    path = tmp_path / "truth.csv"
    path.write_text("image,concept,present\nimg/0.png,dog,1\nimg/1.png, hot  dog ,0\n")
    assert load_truth(path) == {("img/0.png", "dog"): True, ("img/1.png", "hot dog"): False}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("image,concept\nimg/0.png,dog\n", "missing column"),
        ("image,concept,present\nimg/0.png,dog,yes\n", "line 2: present must be 0 or 1"),
        ("image,concept,present\nimg/0.png,dog,1\n,dog,0\n", "line 3: image and concept"),
        ("image,concept,present\na.png,dog,1\na.png,dog,0\n", "line 3: .* contradicts"),
    ],
)
def test_load_truth_errors_name_file_and_line(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "truth.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=match) as exc:
        load_truth(path)
    assert str(path) in str(exc.value)


def test_load_truth_missing_or_binary_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        load_truth(tmp_path / "nope.csv")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81image")
    with pytest.raises(InputError, match="UTF-8"):
        load_truth(binary)


def test_fault_config_json_round_trip() -> None:
    config = FaultConfig(throttle_every_n=3, operations=frozenset({"GetHIT"}))
    assert FaultConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="unknown"):
        FaultConfig.from_json({"throttle_every": 3})
    with pytest.raises(ValueError, match="integer"):
        FaultConfig.from_json({"throttle_every_n": "3"})
    with pytest.raises(ValueError, match=">= 0"):
        FaultConfig(drop_every_n=-1)


def test_cli_help_documents_every_option() -> None:
    from typer.testing import CliRunner

    from turkops.cli import app

    result = CliRunner().invoke(app, ["marketplace", "serve", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in (
        "--port", "--host", "--db", "--truth", "--workers", "--error-rate", "--spammers",
        "--pace", "--seed", "--balance", "--allow-remote",
    ):  # fmt: skip
        assert option in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "not a loopback address"),
        (["--balance", "lots"], "--balance"),
        (["--spammers", "1.5"], "--spammers"),
        (["--truth", "missing.csv"], "truth file not found"),
    ],
)
def test_cli_user_errors(args: list[str], message: str) -> None:
    from typer.testing import CliRunner

    from turkops.cli import app

    result = CliRunner().invoke(app, ["marketplace", "serve", "--port", "0", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "cli.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", "from turkops.cli import main; main()",
         "marketplace", "serve", "--port", "0", "--db", str(db), "--seed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("turkops marketplace listening on http://127.0.0.1:"), first
        url = first.split(" on ")[1].strip()
        assert make_client(url).get_account_balance()["AvailableBalance"] == "10000.00"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert "marketplace stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert db.exists()
