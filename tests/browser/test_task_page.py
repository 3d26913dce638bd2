"""A person fills in a real task page served by the local marketplace; poll ingests exactly that."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from turkops.db.models import Assignment, Hit, HitItem, Rating
from turkops.marketplace import RunningMarketplace
from turkops.services.launch import LaunchOptions, launch_study
from turkops.services.poll import poll_study
from turkops.wiring import Runtime


def test_fill_in_and_submit(
    browser: webdriver.Chrome, mrt: Runtime, sampled: str, market: RunningMarketplace
) -> None:
    market.pause_workers()  # the only worker is the person at the browser
    launch_study(mrt, sampled, LaunchOptions(raters=1, images_per_hit=6))
    with mrt.transaction() as repo:
        hit = repo.session.scalars(select(Hit).order_by(Hit.id)).first()
        assert hit is not None and hit.hit_id
        hit_id, n_items = hit.hit_id, len(hit.items)

    # Preview: the page shows the task but cannot be submitted.
    browser.get(f"{market.url}/preview/{hit_id}")
    assert browser.find_element(By.ID, "preview_notice").is_displayed()
    assert not browser.find_element(By.ID, "submit_button").is_enabled()

    browser.get(f"{market.url}/work/{hit_id}?workerId=AHUMANTESTER01")
    WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.ID, "concept")))
    submit = browser.find_element(By.ID, "submit_button")
    assert not submit.is_enabled()  # consent first
    browser.find_element(By.ID, "consent").click()
    assert submit.is_enabled()
    picks = browser.find_elements(By.CSS_SELECTOR, ".pick")
    assert len(picks) == n_items
    chosen = {0, 2}
    for k in chosen:
        picks[k].click()
    assert browser.find_element(By.ID, "item_0").get_attribute("value") == "1"
    submit.click()
    WebDriverWait(browser, 10).until(lambda d: "mturk/externalSubmit" in d.current_url)

    result = poll_study(mrt, sampled)
    assert result.ingested == 1 and result.approved == 1
    with mrt.transaction() as repo:
        a = repo.session.scalars(select(Assignment)).one()
        assert a.valid and a.status == "Approved"
        values = dict(
            repo.session.execute(
                select(HitItem.position, Rating.value).join(
                    Rating, Rating.hit_item_id == HitItem.id
                )
            ).all()
        )
    assert values == {k: int(k in chosen) for k in range(n_items)}


HOSTILE_SUBMIT_TO = [
    "javascript:window.__pwned=1;//",
    "JavaScript:window.__pwned=1;//",
    " javascript:window.__pwned=1;//",
    "data:text/html,<script>window.__pwned=1</script>",
    "https://evil.example",
    "http://www.mturk.com",
    "https://www.mturk.com.evil.example",
    "https://user@www.mturk.com",
    "https://www.mturk.com:8443",
    "//evil.example",
]


def test_turk_submit_to_accepts_only_mturk_and_the_own_origin(
    browser: webdriver.Chrome, mrt: Runtime, sampled: str, market: RunningMarketplace
) -> None:
    # Issue 10 item 6: a crafted turkSubmitTo never becomes the form's action.
    market.pause_workers()
    launch_study(mrt, sampled, LaunchOptions(raters=1, images_per_hit=6))
    with mrt.transaction() as repo:
        hit = repo.session.scalars(select(Hit).order_by(Hit.id)).first()
        assert hit is not None and hit.hit_id
        hit_id = hit.hit_id
    browser.get(f"{market.url}/work/{hit_id}?workerId=AHUMANTESTER02")
    WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.ID, "concept")))
    parts = urlsplit(browser.current_url)
    query = dict(parse_qsl(parts.query))
    assert query["turkSubmitTo"] == market.url

    def open_with(submit_to: str) -> tuple[str | None, bool, bool]:
        url = urlunsplit(parts._replace(query=urlencode({**query, "turkSubmitTo": submit_to})))
        browser.get(url)
        WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.ID, "concept")))
        browser.find_element(By.ID, "consent").click()
        action = browser.find_element(By.ID, "mturk_form").get_dom_attribute("action")
        enabled = browser.find_element(By.ID, "submit_button").is_enabled()
        notice = any(e.is_displayed() for e in browser.find_elements(By.ID, "submit_notice"))
        return action, enabled, notice

    for hostile in HOSTILE_SUBMIT_TO:
        action, enabled, notice = open_with(hostile)
        assert not (action or "").lower().startswith(("javascript:", "data:")), hostile
        assert "evil.example" not in (action or "") and "mturk.com" not in (action or ""), hostile
        assert not enabled and notice, hostile
        # Submitting anyway (Enter / script) runs nothing and goes nowhere.
        browser.execute_script(
            "document.getElementById('mturk_form').dispatchEvent("
            "new Event('submit', {cancelable: true}))"
        )
        assert browser.execute_script("return window.__pwned === undefined"), hostile

    for good in ("https://www.mturk.com", "https://workersandbox.mturk.com/", market.url):
        action, enabled, notice = open_with(good)
        assert action == good.rstrip("/") + "/mturk/externalSubmit", good
        assert enabled and not notice, good
