"""The HTML report opens in a real browser without errors and shows the methods."""

from __future__ import annotations

import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By

from turkops.domain import DEFAULT_AGGREGATION
from turkops.services.collect import CollectOptions
from turkops.services.launch import LaunchOptions, launch_study
from turkops.services.poll import poll_study
from turkops.wiring import Runtime


def test_report_renders(
    browser: webdriver.Chrome, mrt: Runtime, sampled: str, tmp_path: Path
) -> None:
    from turkops.report.html import build_report

    launch_study(mrt, sampled, LaunchOptions(raters=3))
    deadline = time.monotonic() + 30
    while not poll_study(mrt, sampled).complete:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    html = build_report(mrt, sampled, CollectOptions(n_boot=100, hash_workers=True))
    assert "<script" not in html  # self-contained and static
    out = tmp_path / "report.html"
    out.write_text(html, encoding="utf-8")
    browser.get(out.as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    methods = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#method_table td.method")]
    assert sorted(methods) == ["A", "B"]
    chart = browser.find_element(By.ID, "method_chart")
    assert browser.execute_script("return arguments[0].naturalWidth", chart) > 100
    cards = browser.find_elements(By.CSS_SELECTOR, ".card")
    assert len(cards) == 3  # neurons 0, 1, 2 have explanations
    thumbs = browser.find_elements(By.CSS_SELECTOR, ".thumb img")
    assert thumbs and all(
        browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", t)
        for t in thumbs
    )
    # Worker ids are pseudonymised in the report.
    assert all(
        w.startswith("W") and len(w) == 13
        for w in [
            td.text
            for td in browser.find_elements(By.CSS_SELECTOR, "table tr td:first-child")
            if td.text.startswith("W") and td.text[1:].isalnum()
        ]
    )


def test_report_tells_provenance_intervals_top_images_and_votes(
    browser: webdriver.Chrome, mrt: Runtime, sampled: str, tmp_path: Path
) -> None:
    from turkops import __version__
    from turkops.report.html import build_report

    launch_study(mrt, sampled, LaunchOptions(raters=3))
    deadline = time.monotonic() + 30
    while not poll_study(mrt, sampled).complete:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    html = build_report(mrt, sampled, CollectOptions(n_boot=100))
    out = tmp_path / "report.html"
    out.write_text(html, encoding="utf-8")
    browser.get(out.as_uri())
    rows = {
        tr.find_element(By.TAG_NAME, "th").text: tr.find_element(By.TAG_NAME, "td").text
        for tr in browser.find_elements(By.CSS_SELECTOR, "#provenance_table tr")
    }
    for key in (
        "sampler",
        "draws per pair",
        "sampling seed",
        "effective sample size",
        "concept scores",
        "calibration",
        "aggregator",
        "turkops version",
        "provider",
    ):
        assert key in rows, rows
    assert rows["turkops version"] == __version__
    assert rows["aggregator"].startswith(str(DEFAULT_AGGREGATION))
    # The table shows the 95% interval of each method's mean, as the bar chart does.
    cis = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#method_table td.ci")]
    assert len(cis) == 2 and all(c.startswith("[") for c in cis)
    assert "95% CI" in html and "s.e.m.)" not in html.split("method_chart")[0]
    # Per neuron: the probing set's top-activating images, and the votes of each sampled one.
    for card in browser.find_elements(By.CSS_SELECTOR, ".card"):
        assert card.find_elements(By.CSS_SELECTOR, ".thumbs.top .thumb")
    captions = [s.text for s in browser.find_elements(By.CSS_SELECTOR, ".thumbs:not(.top) span")]
    assert captions and all(" of 3" in c for c in captions), captions[:3]
