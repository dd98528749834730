"""`make run` opens the console: `sepsis-alert run` (a real child process, no replay) prints the console's URL
and a local account first in its banner, and that account signs in to the worklist in a real browser."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[2]
BANNER = re.compile(r"sepsis-alert is running locally.*\n\s+CONSOLE\s+(\S+)\n\s+user (\S+)\s+password (\S+)")

pytestmark = pytest.mark.integration


@pytest.mark.timeout(600)
def test_make_run_banner_starts_with_a_console_account_that_signs_in(tmp_path: Path,
                                                                     browser: webdriver.Chrome) -> None:
    output = tmp_path / "run.out"
    argv = [sys.executable, "-m", "sepsis_alert.cli", "run", "--no-replay", "--run-dir", str(tmp_path / "run"),
            "--duration", "300", "--ready-timeout", "180"]
    with output.open("w") as out:
        proc = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while (found := BANNER.search(output.read_text())) is None:
            assert proc.poll() is None, f"`sepsis-alert run` exited early\n{output.read_text()}"
            assert time.monotonic() < deadline, f"no console in the banner\n{output.read_text()}"
            time.sleep(1.0)
        url, user, password = found.groups()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/console/")
        browser.get(url)
        browser.find_element(By.ID, "username").send_keys(user)
        browser.find_element(By.ID, "password").send_keys(password + Keys.ENTER)
        WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "h1"), "the worklist")
        assert browser.find_element(By.TAG_NAME, "h1").text == "Open sepsis alerts"
        assert f"{user} (ops)" in browser.page_source
    finally:
        code = _ctrl_c(proc)
    assert code == 0, output.read_text()


def _ctrl_c(proc: subprocess.Popen[bytes]) -> int:
    """SIGINT as Ctrl-C sends it; the whole session is killed if the stack has not stopped within 3 minutes."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=30)
