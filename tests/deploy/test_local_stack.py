"""`make run`'s stack end to end: broker, every worker, the local receiver and a short PhysioNet replay.

Runs `sepsis-alert run` as a real child process (as `make run` does), then checks from outside:
each worker's /readyz and /metrics (promtool-clean), pages arriving at the local receiver, the
HL7 feed-silence gauge growing once the replay has stopped, and a clean stop on Ctrl-C (SIGINT).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.runner import DEFAULT_PHYSIONET, WORKER_ORDER
from tests.deploy.conftest import REPO_ROOT

STACK_START_TIMEOUT_S = 300.0
PAGES_TIMEOUT_S = 300.0


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert proc.poll() is None, f"`sepsis-alert run` exited early ({proc.returncode})"
        assert time.monotonic() < deadline, f"{path.name} not written within {timeout_s:.0f} s"
        time.sleep(1.0)


def _sample(text: str, name: str) -> list[float]:
    return [s.value for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_make_run_stack_delivers_pages_to_the_local_receiver(tmp_path: Path, promtool: str) -> None:
    run_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "sepsis_alert.cli", "run", "--physionet", str(DEFAULT_PHYSIONET),
            "--run-dir", str(run_dir), "--patients", "8", "--speed", "36000", "--duration", "600",
            "--ready-timeout", "180"]
    output = tmp_path / "run.out"
    with output.open("w") as out:
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    try:
        _wait_for(run_dir / "stack.json", proc, STACK_START_TIMEOUT_S)
        stack = json.loads((run_dir / "stack.json").read_text())
        workers = stack["workers"]
        states = {name: workers.get(name, {}).get("state") for name in WORKER_ORDER}
        assert states == dict.fromkeys(WORKER_ORDER, "ready"), f"workers not all ready: {states}\n{output.read_text()}"
        for name in WORKER_ORDER:
            info = workers[name]
            assert info["readyz"], f"{name} serves no /readyz (it should use sepsis_alert.ops)"
            ready = httpx.get(info["readyz"], timeout=10)
            assert ready.status_code == 200, f"{name} /readyz: {ready.status_code} {ready.text}"
            assert httpx.get(info["healthz"], timeout=10).status_code == 200
            scrape = httpx.get(info["metrics"], timeout=10)
            assert scrape.status_code == 200
            assert _sample(scrape.text, "sepsis_ready") == [1.0], name
            check = subprocess.run([promtool, "check", "metrics"], input=scrape.text, capture_output=True,
                                   text=True, timeout=60, check=False)
            assert check.returncode == 0, f"{name}: promtool check metrics\n{check.stdout}{check.stderr}"

        deadline = time.monotonic() + PAGES_TIMEOUT_S
        pages: list[dict[str, object]] = []
        while not pages:
            assert proc.poll() is None, f"`sepsis-alert run` exited early\n{output.read_text()}"
            assert time.monotonic() < deadline, f"no page reached the receiver\n{output.read_text()}"
            pages = httpx.get(stack["pages_json"], timeout=10).json()
            time.sleep(2.0)
        # A PagerDuty resolve carries only the dedup key (Events v2 has no payload on resolve), so no level or
        # location; every other delivery says both.
        described = [p for p in pages if not (p["kind"] == "pagerduty" and p["action"] == "resolve")]
        assert described, pages
        assert all(p["level"] and p["location"] for p in described), [
            p for p in described if not (p["level"] and p["location"])]

        # Once the replay has finished the HL7 feed is silent: its age gauge must grow.
        deadline = time.monotonic() + PAGES_TIMEOUT_S
        while "replay finished" not in output.read_text():
            assert time.monotonic() < deadline, "the replay did not finish"
            time.sleep(2.0)
        hl7_metrics = workers["ingest-hl7"]["metrics"]
        first = max(_sample(httpx.get(hl7_metrics, timeout=10).text, "sepsis_hl7_last_message_age_seconds"))
        time.sleep(3.0)
        second = max(_sample(httpx.get(hl7_metrics, timeout=10).text, "sepsis_hl7_last_message_age_seconds"))
        assert second >= first + 2.0, (first, second)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)  # what Ctrl-C does
        try:
            proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    text = output.read_text()
    assert proc.returncode == 0, text
    assert "SIGINT received" in text
    journal = (run_dir / "pages.jsonl").read_text().splitlines()
    assert journal and f"deliveries received by the local receiver: {len(journal)}" in text
    assert "rapid-response pager:" in text  # the summary counts pages per episode
    pager = Counter(d["episode_id"] for d in map(json.loads, journal)
                    if d["kind"] == "pagerduty" and d["action"] == "trigger")
    assert all(n <= 4 for n in pager.values()), pager  # the paging policy's episode budget + its first shock
    for name in WORKER_ORDER:
        pid = workers[name]["pid"]
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2], (
            f"{name} (pid {pid}) still running after the stack stopped")
