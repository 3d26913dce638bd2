"""Issue 10 item 4: every spelling of MTurk's production host needs TURKOPS_ALLOW_PRODUCTION."""

from __future__ import annotations

import pytest

from turkops.config import PRODUCTION_URL, Settings, is_production_url
from turkops.domain import ConfigError
from turkops.mturk.gateway import build_gateway

PRODUCTION_SPELLINGS = [
    "https://mturk-requester.us-east-1.amazonaws.com",
    "https://MTURK-REQUESTER.us-east-1.amazonaws.com",
    "https://mturk-requester.us-east-1.amazonaws.com:443",
    "https://MTURK-REQUESTER.us-east-1.amazonaws.com:443",
    "https://mturk-requester.us-east-1.amazonaws.com.",
    "https://mturk-requester.us-east-1.amazonaws.com./",
    "https://mturk-requester.us-east-1.amazonaws.com/?x",
    "https://mturk-requester.us-east-1.amazonaws.com/some/path?x=1#f",
    "https://user@Mturk-Requester.US-EAST-1.amazonaws.com.:443/?x",
    "http://mturk-requester.us-east-1.amazonaws.com",
]


def _settings(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize("url", PRODUCTION_SPELLINGS)
def test_every_production_spelling_needs_the_opt_in(url: str) -> None:
    assert is_production_url(url)
    with pytest.raises(ConfigError, match="TURKOPS_ALLOW_PRODUCTION"):
        build_gateway(_settings(endpoint=url))
    gw = build_gateway(_settings(endpoint=url, allow_production=True))
    assert gw.client.meta.endpoint_url == PRODUCTION_URL  # type: ignore[attr-defined]


def test_environment_spelling_needs_the_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURKOPS_ENDPOINT", "https://MTURK-REQUESTER.us-east-1.amazonaws.com/?x")
    monkeypatch.delenv("TURKOPS_ALLOW_PRODUCTION", raising=False)
    with pytest.raises(ConfigError, match="TURKOPS_ALLOW_PRODUCTION"):
        build_gateway(_settings())


def test_local_url_pointing_at_production_needs_the_opt_in() -> None:
    with pytest.raises(ConfigError, match="TURKOPS_ALLOW_PRODUCTION"):
        _settings(endpoint="local", local_url="https://mturk-requester.us-east-1.amazonaws.com.")\
            .endpoint_url()


@pytest.mark.parametrize(
    "url",
    [
        "https://mturk-requester-sandbox.us-east-1.amazonaws.com",
        "http://127.0.0.1:8765",
        "https://mturk-requester.us-east-1.amazonaws.com.evil.example",
        "https://evil.example/mturk-requester.us-east-1.amazonaws.com",
    ],
)
def test_other_hosts_are_not_production(url: str) -> None:
    assert not is_production_url(url)
    assert _settings(endpoint=url).endpoint_url() == url
