"""The console in a real browser, on the real service: a private Kafka broker, the ingest-hl7, detect and
notify workers as processes, an HL7 v2 message over MLLP, Chromium driven by Selenium.

Proved here, in order: an unauthenticated visitor is sent to the sign-in page (and the event stream refuses
it); a responder signs in with the keyboard only; the alert made from the HL7 message appears in the open
worklist without a reload; its episode page opens from the keyboard; acknowledging it (keyboard again)
updates the worklist open in another window without a reload and stops the notifier's escalation (its
metric says stopped_acked, and the next tier never gets the page); a viewer sees no acknowledge button and
is refused when posting one anyway; the worklist and the episode page fit a 375 px phone screen. The run
writes the README's screenshots (docs/img/console-*.png).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from devstack.broker import LocalBroker, free_port
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.topics import ensure_topics
from tests.adversarial.messages import unique, vitals_oru
from tests.faults.procs import WorkerProcess, wait_until
from tests.ingest.adapters.harness import MllpClient
from tests.notifier.console.conftest import PASSWORD, users_file
from tests.notifier.helpers import Receiver, running_receiver

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "img"
ESCALATE_AFTER_S = 20.0
"""Tier 1 gets the page this long after tier 0 unless somebody acknowledges (the browser acts well before)."""
PHONE = (375, 812)
ROW_TEXT = "return document.querySelector('tr[data-episode]').innerText"


@dataclass
class Stack:
    console: str
    ops: str
    mllp_port: int
    receiver: Receiver
    workers: list[WorkerProcess]


def _config(receiver: Receiver) -> str:
    receivers = "\n".join(f"""  - name: {name}
    type: webhook
    url: {{value: "{receiver.url('/' + name)}"}}
    secret: {{value: "browser-test-secret"}}""" for name in ("nurse", "rrt"))
    return f"""receivers:
{receivers}
escalation_policies:
  - name: chain
    tiers: [{{receiver: nurse}}, {{receiver: rrt, delay_s: {ESCALATE_AFTER_S}}}]
route: {{escalation: chain}}
paging: {{min_level: 1}}
escalation_tick_s: 0.2
"""


@pytest.fixture
def stack(own_broker: LocalBroker, tmp_path: Path) -> Iterator[Stack]:
    ensure_topics(KafkaSettings(bootstrap_servers=own_broker.bootstrap))
    mllp_port, api_port, notify_ops = free_port(), free_port(), free_port()
    with running_receiver() as receiver:
        config = tmp_path / "notifier.yaml"
        config.write_text(_config(receiver))
        base = {"SEPSIS_KAFKA_BOOTSTRAP_SERVERS": own_broker.bootstrap}
        console = f"http://127.0.0.1:{api_port}"
        notify_env = {"SEPSIS_NOTIFIER_PUBLIC_BASE_URL": console, "SEPSIS_OPS_PORT": str(notify_ops),
                      "SEPSIS_NOTIFIER_CONSOLE_USERS_FILE": str(users_file(tmp_path))}
        workers = [WorkerProcess("ingest-hl7", ["ingest-hl7", "--port", str(mllp_port)], base, tmp_path),
                   WorkerProcess("detect", ["detect"], base, tmp_path),
                   WorkerProcess("notify", ["notify", "--config", str(config), "--api-port", str(api_port)],
                                 {**base, **notify_env}, tmp_path)]
        for worker in workers:
            worker.start()
        try:
            ops = f"http://127.0.0.1:{notify_ops}"
            wait_until(lambda: _status(f"{ops}/readyz") == 200, 120, "the notifier to be ready")
            wait_until(lambda: _status(f"{console}/healthz") == 200, 60, "the notifier's API")
            yield Stack(console, ops, mllp_port, receiver, workers)
        finally:
            for worker in reversed(workers):
                worker.stop()


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def _send_hl7(port: int) -> None:
    """One ORU^R01 with six abnormal vital signs, acknowledged AA by ingest-hl7 (retried while it starts)."""
    message = vitals_oru(control_id=unique("BRW"), mrn=f"BRW{uuid.uuid4().hex[:8]}")
    deadline = time.monotonic() + 60
    while True:
        try:
            client = MllpClient("127.0.0.1", port, timeout_s=20)
            try:
                ack = client.send(message)
            finally:
                client.close()
            if b"MSA|AA" in ack:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("ingest-hl7 never answered AA")
        time.sleep(1.0)


def _wait(driver: webdriver.Chrome, timeout_s: float, what: str, condition: object) -> object:
    return WebDriverWait(driver, timeout_s, poll_frequency=0.1).until(condition, message=what)  # type: ignore[arg-type]


def _tab_to(driver: webdriver.Chrome, selector: str, limit: int = 40) -> WebElement:
    """Press Tab until the element matching `selector` has the focus (keyboard-only navigation)."""
    body = driver.find_element(By.TAG_NAME, "body")
    for _ in range(limit):
        active = driver.switch_to.active_element
        if driver.execute_script("return arguments[0].matches(arguments[1])", active, selector):
            return active
        body.send_keys(Keys.TAB) if active.tag_name == "body" else active.send_keys(Keys.TAB)
    raise AssertionError(f"{selector} never got the keyboard focus in {limit} Tab presses")


def _sign_in(driver: webdriver.Chrome, user: str) -> None:
    """Type the user name, Tab, the password, Enter: no mouse."""
    username = driver.find_element(By.ID, "username")
    username.send_keys(user)
    username.send_keys(Keys.TAB)
    driver.switch_to.active_element.send_keys(PASSWORD + Keys.ENTER)
    _wait(driver, 20, "the worklist after sign-in", lambda d: d.current_url.rstrip("/").endswith("/console"))


def _fits(driver: webdriver.Chrome) -> bool:
    return bool(driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"))


def _escalations_stopped(ops: str) -> float:
    text = httpx.get(f"{ops}/metrics", timeout=5).text
    found = re.search(r'sepsis_notifier_escalations_total\{policy="chain",reason="stopped_acked"\} (\S+)', text)
    return float(found.group(1)) if found else 0.0


def test_console_end_to_end_in_a_real_browser(stack: Stack, browser: webdriver.Chrome) -> None:
    console = stack.console
    # Unauthenticated: the page sends to sign-in, the event stream refuses.
    browser.get(f"{console}/console/")
    assert "/console/login" in browser.current_url and browser.find_element(By.ID, "password")
    assert _status(f"{console}/console/events") == 401

    _sign_in(browser, "responder")
    _wait(browser, 10, "the live connection", lambda d: d.find_element(By.TAG_NAME, "body")
          .get_attribute("data-live-connected") == "1")
    assert browser.find_elements(By.CSS_SELECTOR, "tr[data-episode]") == []
    browser.execute_script("window.notReloaded = true")

    _send_hl7(stack.mllp_port)
    # Read in one script: the live refresh may replace the row between two WebDriver calls.
    episode, text = _wait(browser, 90, "the alert's row to appear live", lambda d: d.execute_script(
        "const row = document.querySelector('tr[data-episode]');"
        "return row && [row.dataset.episode, row.innerText];"))  # type: ignore[misc]
    assert browser.execute_script("return window.notReloaded === true"), "the page was reloaded"
    assert "MICU" in text and "not acknowledged" in text and "BRW" not in text
    wait_until(lambda: len(stack.receiver.at("/nurse")) >= 1, 30, "tier 0's page")
    first_page_at = time.monotonic()
    browser.save_screenshot(str(SCREENSHOTS / "console-worklist.png"))

    # A second window on the episode page (reached from the keyboard); the first keeps the worklist open.
    worklist_window = browser.current_window_handle
    browser.switch_to.new_window("window")
    browser.get(f"{console}/console/")
    _tab_to(browser, "a.episode-link").send_keys(Keys.ENTER)
    _wait(browser, 10, "the episode page", lambda d: f"/console/episodes/{episode}" in d.current_url)
    assert browser.find_elements(By.CSS_SELECTOR, "svg.plot"), "no plots on the episode page"
    assert "nurse" in browser.find_element(By.CSS_SELECTOR, "table.notifications").text
    browser.save_screenshot(str(SCREENSHOTS / "console-episode.png"))
    readme = (REPO / "README.md").read_text()
    assert "docs/img/console-worklist.png" in readme and "docs/img/console-episode.png" in readme
    _tab_to(browser, "#ack-button").send_keys(Keys.ENTER)
    _wait(browser, 10, "the acknowledgement", lambda d: "acknowledged by responder" in d.page_source)

    browser.switch_to.window(worklist_window)
    _wait(browser, 10, "the worklist row to show the acknowledgement", lambda d: "acknowledged by responder" in (
        d.execute_script(ROW_TEXT)))
    assert browser.execute_script("return window.notReloaded === true"), "the worklist was reloaded"
    assert _escalations_stopped(stack.ops) >= 1
    time.sleep(max(0.0, ESCALATE_AFTER_S + 2 - (time.monotonic() - first_page_at)))
    assert stack.receiver.at("/rrt") == [], "tier 1 was paged after the acknowledgement"

    # Phone width: nothing wider than the screen, the row still readable.
    browser.set_window_size(*PHONE)
    browser.get(f"{console}/console/")
    assert _fits(browser)
    assert "acknowledged by responder" in browser.execute_script(ROW_TEXT)
    browser.get(f"{console}/console/episodes/{episode}")
    assert _fits(browser)
    browser.set_window_size(1280, 800)

    # A viewer reads but cannot acknowledge, even by posting the form by hand.
    browser.delete_all_cookies()
    browser.get(f"{console}/console/login")
    _sign_in(browser, "viewer")
    browser.get(f"{console}/console/episodes/{episode}")
    assert browser.find_elements(By.ID, "ack-button") == []
    status = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(location.pathname + '/ack', {method: 'POST', body: new URLSearchParams({csrf: 'x'})})"
        ".then(r => done(r.status));")
    assert status == 403

    # Ops, keyboard only at phone width: the nav reaches the Feeds and Silences pages, which fit the screen.
    browser.set_window_size(*PHONE)
    browser.delete_all_cookies()
    browser.get(f"{console}/console/login")
    _sign_in(browser, "ops")
    for path, heading in (("/console/ops/feeds", "Feeds"), ("/console/silences", "Silences")):
        _tab_to(browser, f'nav a[href="{path}"]').send_keys(Keys.ENTER)
        _wait(browser, 10, f"the {heading} page", lambda d, p=path: d.current_url.endswith(p))
        assert browser.find_element(By.TAG_NAME, "h1").text == heading
        assert _fits(browser), f"{path} is wider than a phone screen"
