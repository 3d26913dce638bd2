"""A person fills in a real task page served by the local marketplace; poll ingests exactly that."""

from __future__ import annotations

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
