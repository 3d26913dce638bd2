"""Issue 10, a user's first hour (items 16, 18, 21), through the real CLI.

User text (methods, concepts) printed literally; settings as option defaults; readable tables at
80 columns and in pipes; poll progress; the endpoint launch publishes to; a hint when the local
marketplace is down; pseudonymised worker ids by default; --version; no `<bool>` metavars; a
fast `--help` that loads no heavy module; p-values and clipped intervals.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

import turkops
from tests.conftest import write_study_files
from turkops.cli import app
from turkops.marketplace import RunningMarketplace
from turkops.services.collect import pseudonym

REPO = Path(__file__).resolve().parents[2]
# COLUMNS=80 as well as terminal_width: Rich reads the environment for a non-terminal stdout.
runner = CliRunner(env={"COLUMNS": "80"})
WIDTH = 80

# A method and a concept that are Rich markup (a closing tag that crashes the parser, a link,
# an emoji code) and must print exactly as written.
OOPS = "[/oops]"
LINK = "[link=https://evil.example]click[/link]"
EMOJI = ":thumbs_up:"
EXPLANATIONS = (
    "neuron,method,concept\n"
    f"0,{OOPS},red\n"
    f'0,"{LINK}",dog\n'
    f"1,{OOPS},cat\n"
    f'1,"{LINK}",{EMOJI}\n'
    f"2,{OOPS},red\n"
)


def invoke(args: list[str]) -> Result:
    return runner.invoke(app, args, terminal_width=WIDTH)


def _command_paths() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(cmd: object, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return paths


def _assert_fits(output: str) -> None:
    """Every line within 80 columns and no cell shortened to an ellipsis."""
    assert "…" not in output, output
    for line in output.splitlines():
        assert len(line) <= WIDTH, line


# --- start-up, --version, flags ---------------------------------------------------------------

HEAVY = ("scipy", "numpy", "boto3", "botocore", "sqlalchemy", "matplotlib", "torch", "open_clip")


def test_help_loads_no_heavy_module() -> None:
    """`turkops --help` and every sub-command's --help import none of the numerical, AWS or
    database stacks (docs/benchmarks.md has the measured time)."""
    script = (
        "import sys\n"
        "from turkops.cli import app\n"
        "for args in (['--help'], ['launch', '--help'], ['simulate', '--help'],\n"
        "             ['concepts', 'score', '--help'], ['collect', '--help']):\n"
        "    try:\n"
        "        app(args, prog_name='turkops')\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "80"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "LOADED []", out.stdout[-500:]
    main = subprocess.run(
        [sys.executable, "-m", "turkops", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert main.returncode == 0 and "Usage" in main.stdout


def test_version() -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"turkops {turkops.__version__}"


def test_no_bool_metavar_in_any_help() -> None:
    for path in _command_paths():
        result = invoke([*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, path
    # Non-flag options still show their type.
    assert "<int>" in invoke(["launch", "--help"]).output


# --- a whole small study through the CLI with markup in user text ------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("TURKOPS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite'}")
    monkeypatch.setenv("TURKOPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TURKOPS_API_MAX_ATTEMPTS", "2")
    return tmp_path


def _create_and_sample(folder: Path, name: str, explanations: str = EXPLANATIONS) -> None:
    rows = list(csv.DictReader(io.StringIO(explanations)))
    concepts = tuple(dict.fromkeys(r["concept"] for r in rows))
    files = write_study_files(folder, explanations=explanations, concepts=concepts)
    created = invoke(
        [
            "study",
            "create",
            name,
            "--inputs",
            str(files["inputs"]),
            "--activations",
            str(files["activations"]),
            "--explanations",
            str(files["explanations"]),
            "--concept-scores",
            str(files["scores"]),
        ]
    )
    assert created.exit_code == 0, created.output
    sampled = invoke(["sample", name, "--per-pair", "20", "--seed", "3"])
    assert sampled.exit_code == 0, sampled.output


def test_markup_in_user_text_prints_literally_everywhere(
    cli_env: Path, market: RunningMarketplace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURKOPS_LOCAL_URL", market.url)
    _create_and_sample(cli_env / "files", "markup")
    shown = invoke(["study", "show", "markup"])
    assert shown.exit_code == 0, shown.output

    launched = invoke(["launch", "markup", "--raters", "3", "--images-per-hit", "15"])
    assert launched.exit_code == 0, launched.output

    deadline = time.monotonic() + 60
    while True:
        polled = invoke(["poll", "markup"])
        assert polled.exit_code in (0, 10), polled.output
        if polled.exit_code == 0:
            break
        assert time.monotonic() < deadline, polled.output
        time.sleep(0.2)

    collected = invoke(["collect", "markup", "--bootstrap", "50"])
    assert collected.exit_code == 0, collected.output
    out = collected.output
    assert OOPS in out and EMOJI in out
    # The link markup is text, not a hyperlink: its brackets and target are printed as written
    # (a narrow method column folds it).
    assert "[link=https://evil.example" in out and "]click[/link]" in out
    assert "\x1b]8;" not in out  # no OSC 8 hyperlink escape

    listed = invoke(["study", "list"])
    assert listed.exit_code == 0 and "complete" in listed.output
    _assert_fits(listed.output)

    report = invoke(["report", "markup", "--out", str(cli_env / "r.html"), "--bootstrap", "50"])
    assert report.exit_code == 0, report.output


# --- worker ids: pseudonymised by default in collect and report ---------------------------------


def _polled_study(cli_env: Path, market: RunningMarketplace, name: str) -> None:
    _create_and_sample(
        cli_env / name,
        name,
        "neuron,method,concept\n0,A,red\n0,B,dog\n1,A,cat\n1,B,cat\n2,A,red\n",
    )
    assert invoke(["launch", name]).exit_code == 0
    deadline = time.monotonic() + 60
    while invoke(["poll", name]).exit_code != 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_worker_ids_pseudonymised_by_default_in_collect_and_report(
    cli_env: Path, market: RunningMarketplace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURKOPS_LOCAL_URL", market.url)
    _polled_study(cli_env, market, "w")
    raw_ids = {w.worker_id for w in market.workers}

    hashed = invoke(["collect", "w", "--format", "json", "--bootstrap", "20"])
    assert hashed.exit_code == 0, hashed.output
    shown = {w["worker"] for w in json.loads(hashed.stdout)["workers"]}
    assert shown and not shown & raw_ids
    assert shown <= {pseudonym(w) for w in raw_ids}  # one shared, stable pseudonym

    raw = invoke(["collect", "w", "--format", "json", "--bootstrap", "20", "--raw-worker-ids"])
    assert raw.exit_code == 0, raw.output
    assert {w["worker"] for w in json.loads(raw.stdout)["workers"]} <= raw_ids

    csv_out = invoke(["collect", "w", "--format", "csv", "--bootstrap", "20"])
    assert not any(w in csv_out.output for w in raw_ids)

    default_report = cli_env / "default.html"
    assert invoke(["report", "w", "--out", str(default_report), "--bootstrap", "20"]).exit_code == 0
    html = default_report.read_text()
    assert not any(w in html for w in raw_ids)
    assert any(p in html for p in shown)
    raw_report = cli_env / "raw.html"
    args = ["report", "w", "--out", str(raw_report), "--bootstrap", "20", "--raw-worker-ids"]
    assert invoke(args).exit_code == 0
    assert any(w in raw_report.read_text() for w in raw_ids)


# --- settings are the option defaults; launch names its endpoint -------------------------------


def _words(output: str) -> str:
    """Text with line breaks, help-panel borders and runs of spaces folded to single spaces."""
    return " ".join(output.replace("│", " ").split())


def _plan(output: str) -> tuple[int, int]:
    """(HITs, assignments) from launch's plan table."""
    for line in output.splitlines():
        cells = line.split()
        if len(cells) >= 5 and cells[0].isdigit() and cells[1].isdigit():
            return int(cells[0]), int(cells[1])
    raise AssertionError(output)


def test_settings_are_the_defaults_of_launch_options(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    help_text = _words(invoke(["launch", "--help"]).output)
    assert "Default: from TURKOPS_RATERS (3)" in help_text
    assert "Default: from TURKOPS_REWARD (0.05)" in help_text
    assert "Default: from TURKOPS_IMAGES_PER_HIT (15)" in help_text
    monitor_help = _words(invoke(["monitor", "--help"]).output)
    assert "Default: from TURKOPS_POLL_INTERVAL_SECONDS (300s)" in monitor_help

    _create_and_sample(
        cli_env / "files", "env", "neuron,method,concept\n0,A,red\n0,B,dog\n1,A,cat\n"
    )
    plain = invoke(["launch", "env", "--dry-run"])
    assert plain.exit_code == 0, plain.output
    hits, assignments = _plan(plain.output)
    assert assignments == 3 * hits
    assert "3 raters per HIT, 15 images per HIT, $0.05 per assignment" in _words(plain.output)

    monkeypatch.setenv("TURKOPS_RATERS", "5")
    monkeypatch.setenv("TURKOPS_IMAGES_PER_HIT", "4")
    monkeypatch.setenv("TURKOPS_REWARD", "0.12")
    from_env = invoke(["launch", "env", "--dry-run"])
    assert from_env.exit_code == 0, from_env.output
    env_hits, env_assignments = _plan(from_env.output)
    assert env_hits > hits and env_assignments == 5 * env_hits
    assert "5 raters per HIT, 4 images per HIT, $0.12 per assignment" in _words(from_env.output)

    # An option given on the command line wins over the setting.
    given = invoke(["launch", "env", "--dry-run", "--raters", "2", "--reward", "0.07"])
    assert "2 raters per HIT, 4 images per HIT, $0.07 per assignment" in _words(given.output)


def test_launch_names_its_endpoint_and_a_refused_production_run(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _create_and_sample(cli_env / "files", "ep", "neuron,method,concept\n0,A,red\n")
    local = invoke(["launch", "ep", "--dry-run"])
    assert local.exit_code == 0, local.output
    assert "endpoint: local marketplace at http://127.0.0.1:8765" in _words(local.output)

    monkeypatch.setenv("TURKOPS_ENDPOINT", "sandbox")
    sandbox = invoke(["launch", "ep", "--dry-run"])
    assert "endpoint: MTurk sandbox (https://mturk-requester-sandbox" in _words(sandbox.output)

    monkeypatch.setenv("TURKOPS_ENDPOINT", "production")
    dry = invoke(["launch", "ep", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "endpoint: TURKOPS_ENDPOINT=production" in _words(dry.output)
    assert "the real run would be refused" in _words(dry.output)
    assert "TURKOPS_ALLOW_PRODUCTION=true" in _words(dry.output)
    real = invoke(["launch", "ep"])
    assert real.exit_code == 2
    assert "TURKOPS_ALLOW_PRODUCTION=true" in _words(real.output)

    monkeypatch.setenv("TURKOPS_ALLOW_PRODUCTION", "true")
    allowed = invoke(["launch", "ep", "--dry-run"])
    assert "endpoint: MTurk production (https://mturk-requester.us-east-1" in _words(allowed.output)
    assert "would be refused" not in _words(allowed.output)

    monkeypatch.setenv("TURKOPS_ENDPOINT", "http://127.0.0.1:9/")
    explicit = invoke(["launch", "ep", "--dry-run"])
    assert "endpoint: http://127.0.0.1:9/ (an explicit TURKOPS_ENDPOINT)" in _words(explicit.output)


def test_unreachable_local_marketplace_says_how_to_start_it(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:  # a loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("TURKOPS_LOCAL_URL", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("TURKOPS_API_MAX_ATTEMPTS")  # the default 10 attempts: no long wait
    _create_and_sample(cli_env / "files", "down", "neuron,method,concept\n0,A,red\n")
    for args in (["launch", "down"], ["poll", "down"]):
        result = invoke(args)
        assert result.exit_code in (2, 5), result.output
        lines = [x for x in result.output.splitlines() if x.startswith("error:")]
        assert len(lines) == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
    launch_error = invoke(["launch", "down"]).output
    assert "`turkops marketplace serve`" in _words(launch_error), launch_error


def test_connection_lost_during_a_run_names_the_marketplace_too() -> None:
    """A marketplace that goes away after start-up: botocore's retries end in the same hint."""
    import boto3
    from botocore.config import Config

    from turkops.domain import ProviderError
    from turkops.mturk.gateway import MTurkGateway

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = boto3.client(
        "mturk",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )
    gateway = MTurkGateway(client, unreachable_hint="start it with `turkops marketplace serve`")
    with pytest.raises(ProviderError, match="start it with `turkops marketplace serve`"):
        gateway.account_balance()


# --- readable at 80 columns and in a pipe ------------------------------------------------------

SIM_ARGS = ["simulate", "--pairs", "4", "--inputs", "300", "--raters", "1,3", "--seed", "1"]


def test_simulate_fits_80_columns_without_ellipsis() -> None:
    """Nine draw columns and the longest strategy names stay whole (was: `0.…` cells)."""
    args = [*SIM_ARGS, "--aggregators", "bragg-model-corrected,majority,ds-act-soft"]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    _assert_fits(result.output)
    grid = result.output.split("RCE with 1 rater(s)")[1]
    row = next(x for x in grid.splitlines() if x.startswith("mg-is+majority"))
    assert len(re.findall(r"\d\.\d{3}", row)) == 9, row  # all nine sample sizes


def test_simulate_piped_to_a_file_is_whole(tmp_path: Path) -> None:
    out_file = tmp_path / "sim.txt"
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["PYTHONPATH"] = str(REPO)
    with out_file.open("w") as fh:
        done = subprocess.run(
            [sys.executable, "-m", "turkops", *SIM_ARGS],
            stdout=fh,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr
    _assert_fits(out_file.read_text())


def test_study_list_keeps_statuses_whole_at_80_columns(cli_env: Path) -> None:
    name = "imagenet-resnet50-layer4-pilot-study-2026"
    _create_and_sample(cli_env / "files", name, "neuron,method,concept\n0,A,red\n1,B,dog\n")
    listed = invoke(["study", "list"])
    assert listed.exit_code == 0, listed.output
    _assert_fits(listed.output)
    row = next(x for x in listed.output.splitlines() if x.startswith("imagenet"))
    assert row.split()[1] == "sampled", listed.output


def test_collect_intervals_stay_on_one_line_at_80_columns(
    cli_env: Path, market: RunningMarketplace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURKOPS_LOCAL_URL", market.url)
    long_method = "an-explanation-method-with-a-rather-long-descriptive-name"
    _create_and_sample(
        cli_env / "files",
        "ci",
        "neuron,method,concept\n"
        f"0,{long_method},red\n0,B,a dog sitting on a red sofa in the living room\n"
        f"1,{long_method},cat\n1,B,cat\n",
    )
    assert invoke(["launch", "ci"]).exit_code == 0
    deadline = time.monotonic() + 60
    while True:
        polled = invoke(["poll", "ci"])
        if polled.exit_code == 0:
            break
        assert time.monotonic() < deadline, polled.output
        time.sleep(0.2)
    collected = invoke(["collect", "ci", "--bootstrap", "50"])
    assert collected.exit_code == 0, collected.output
    out = collected.output
    _assert_fits(out)
    explanations = out.split("explanations (")[1]
    intervals = re.findall(r"\[-?\d\.\d\d, -?\d\.\d\d\]", explanations)
    undefined = explanations.count("n/a:")
    assert len(intervals) + undefined == 4, out


def test_poll_reports_progress_on_stderr(
    cli_env: Path, market: RunningMarketplace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURKOPS_LOCAL_URL", market.url)
    _create_and_sample(
        cli_env / "files", "prog", "neuron,method,concept\n0,A,red\n0,B,dog\n1,A,cat\n"
    )
    assert invoke(["launch", "prog", "--images-per-hit", "5"]).exit_code == 0
    deadline = time.monotonic() + 60
    seen: list[str] = []
    while True:
        polled = invoke(["poll", "prog"])
        seen += [x for x in polled.stderr.splitlines() if x.startswith("poll: HITs reviewed")]
        if polled.exit_code == 0:
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert seen, "poll printed no progress line"
    assert re.fullmatch(r"poll: HITs reviewed: \d+/\d+ \(\d+ s\)", seen[0]), seen[0]


def test_monitor_reports_progress_and_passes(
    cli_env: Path, market: RunningMarketplace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURKOPS_LOCAL_URL", market.url)
    _create_and_sample(cli_env / "files", "mon", "neuron,method,concept\n0,A,red\n1,A,cat\n")
    assert invoke(["launch", "mon", "--images-per-hit", "5"]).exit_code == 0
    result = invoke(["monitor", "mon", "--every", "1s"])
    assert result.exit_code == 0, result.output
    progress = [x for x in result.stderr.splitlines() if x.startswith("monitor: HITs reviewed")]
    assert progress, result.output
    assert "HITs done" in result.stdout
