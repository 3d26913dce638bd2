"""A person in headless Chromium completes a Prolific session on the real task server."""

from __future__ import annotations

import socket
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from tests.taskserver.helpers import make_prolific_study
from turkops.db.models import Assignment, HitItem, Rating, TaskSession
from turkops.taskserver.runner import running_taskserver
from turkops.wiring import Runtime, open_runtime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_consent_tasks_and_completion_redirect(
    browser: webdriver.Chrome, rt: Runtime, tmp_path: Path
) -> None:
    port = _free_port()
    # Prolific is not reachable offline: the completion URL points back at this server.
    done_url = f"http://127.0.0.1:{port}/healthz"
    settings = rt.settings.model_copy(update={"prolific_complete_url": done_url})
    srt = open_runtime(settings)
    make_prolific_study(srt, tmp_path / "f", tasks_per_session=2, raters=1, images_per_task=6)
    with running_taskserver(srt, port=port) as server:
        browser.get(
            f"{server.url}/p/ps?PROLIFIC_PID=60a1b2c3d4e5f60718293a4b&STUDY_ID=S&SESSION_ID=X"
        )
        start = browser.find_element(By.ID, "start_button")
        start.click()  # without consent: asked again
        WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.ID, "error")))
        browser.find_element(By.ID, "consent").click()
        browser.find_element(By.ID, "start_button").click()
        chosen = [{0, 2}, {1}]
        for page in range(2):
            WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.ID, "concept")))
            assert browser.find_element(By.ID, "progress").text == f"Page {page + 1} of 2"
            picks = browser.find_elements(By.CSS_SELECTOR, ".pick")
            assert len(picks) == 6
            for k in chosen[page]:
                picks[k].click()
            # Clicking the image (not the box) toggles too, through the served script.
            items = browser.find_elements(By.CSS_SELECTOR, ".item img")
            items[5].click()
            items[5].click()
            for k in range(6):
                value = browser.find_element(By.ID, f"item_{k}").get_attribute("value")
                assert value == str(int(k in chosen[page]))
            browser.find_element(By.ID, "submit_button").click()
            if page == 0:
                WebDriverWait(browser, 10).until(
                    lambda d: d.find_element(By.ID, "progress").text == "Page 2 of 2"
                )
        WebDriverWait(browser, 10).until(lambda d: d.current_url.startswith(done_url))
        assert browser.current_url == f"{done_url}?cc=C0MPL3TE"
        problems = [
            e["message"]
            for e in browser.get_log("browser")
            if "Content Security Policy" in e["message"] or e["level"] == "SEVERE"
        ]
        # The one expected error: the first click on Start, without consent, answered 400.
        assert len(problems) == 1 and "400 (Bad Request)" in problems[0], problems
        problems = problems[1:]
        assert problems == []
    with srt.transaction() as repo:
        s = repo.session.scalars(select(TaskSession)).one()
        assert (s.status, s.tasks_done, s.consented) == ("completed", 2, True)
        by_assignment: dict[str, set[int]] = {}
        for aid, pos, value in repo.session.execute(
            select(Assignment.assignment_id, HitItem.position, Rating.value)
            .join(Rating, Rating.assignment_row_id == Assignment.id)
            .join(HitItem, Rating.hit_item_id == HitItem.id)
            .order_by(Assignment.id)
        ):
            by_assignment.setdefault(aid, set())
            if value:
                by_assignment[aid].add(pos)
    assert list(by_assignment.values()) == chosen
    srt.close()
