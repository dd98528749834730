"""The local receiver used by `sepsis-alert run`: real HTTP on 127.0.0.1, each payload shape, no PHI shown."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.local_receiver import LocalReceiver, page_from_payload, verify_signature

SECRET = "local-webhook-secret"
WEBHOOK_BODY = {
    "version": 1, "action": "trigger", "episode_id": "ep-abc", "alert_id": "ep-abc-0001", "tier": 0,
    "location": "MICU 12-B", "level": 3, "level_name": "emergency", "transition": "escalated",
    "masked_mrn": "****5678", "scores": [{"name": "news2", "value": "7", "band": "high"}],
    "reasons": ["NEWS2 7 >= 7"], "ack_url": "http://127.0.0.1:9/ack/x",
}


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[LocalReceiver]:
    with LocalReceiver(webhook_secret=SECRET, journal=tmp_path / "pages.jsonl") as handle:
        yield handle


def _signed(body: bytes, secret: str = SECRET) -> str:
    stamp = str(int(time.time()))
    return f"t={stamp},v1=" + hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def test_webhook_page_is_shown_without_identifiers(receiver: LocalReceiver, tmp_path: Path) -> None:
    raw = json.dumps(WEBHOOK_BODY).encode()
    response = httpx.post(f"{receiver.url}/webhook/ehr", content=raw,
                          headers={"Content-Type": "application/json", "X-Sepsis-Signature": _signed(raw)}, timeout=10)
    assert response.status_code == 200
    (page,) = receiver.pages()
    assert (page.kind, page.receiver, page.level, page.transition) == ("webhook", "/webhook/ehr", "3 (emergency)",
                                                                       "escalated")
    assert page.location == "MICU 12-B"
    assert page.scores == ["news2=7 (high)"] and page.reasons == ["NEWS2 7 >= 7"]
    assert page.signature == "valid"
    listing = httpx.get(f"{receiver.url}/pages.json", timeout=10).json()
    assert listing[0]["location"] == "MICU 12-B"
    html_page = httpx.get(f"{receiver.url}/", timeout=10).text
    assert "http-equiv='refresh'" in html_page and "MICU 12-B" in html_page and "NEWS2 7 &gt;= 7" in html_page
    for shown in (json.dumps(listing), html_page, (tmp_path / "pages.jsonl").read_text()):
        assert "5678" not in shown  # the masked MRN is not kept either


def test_bad_signature_is_flagged(receiver: LocalReceiver) -> None:
    raw = json.dumps(WEBHOOK_BODY).encode()
    httpx.post(f"{receiver.url}/webhook/ehr", content=raw, headers={"X-Sepsis-Signature": _signed(raw, "wrong")},
               timeout=10)
    assert receiver.pages()[0].signature == "bad"
    assert verify_signature("garbage", raw, b"k", time.time()) == "malformed"


def test_pagerduty_slack_and_teams_shapes(receiver: LocalReceiver) -> None:
    pagerduty = {"routing_key": "k" * 32, "event_action": "trigger", "dedup_key": "ep-abc",
                 "payload": {"summary": "Sepsis alert URGENT - 4W 3", "severity": "warning", "source": "sepsis-alert",
                             "custom_details": {"level": 2, "location": "4W 3", "scores": {"qsofa": "2"},
                                                "reasons": ["qSOFA 2"]}}}
    response = httpx.post(f"{receiver.url}/pagerduty/v2/enqueue", json=pagerduty, timeout=10)
    assert response.status_code == 202 and response.json()["status"] == "success"
    slack = {"text": "Sepsis alert URGENT (opened) - 4W 3", "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Sepsis alert URGENT (opened) - 4W 3"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Location*\n4W 3"},
                                       {"type": "mrkdwn", "text": "*Level*\n2 (urgent)"}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Scores*\n• qsofa: 2"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Why*\n• qSOFA 2"}}]}
    assert httpx.post(f"{receiver.url}/slack/ward", json=slack, timeout=10).text == "ok"
    teams = {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {
        "type": "AdaptiveCard", "body": [
            {"type": "TextBlock", "text": "Sepsis alert URGENT (opened) - 4W 3", "weight": "Bolder"},
            {"type": "FactSet", "facts": [{"title": "Location", "value": "4W 3"}, {"title": "Level", "value": "2"},
                                          {"title": "MRN", "value": "****1234"}, {"title": "qsofa", "value": "2"}]},
            {"type": "TextBlock", "text": "- qSOFA 2"}]}}]}
    assert httpx.post(f"{receiver.url}/teams/ward", json=teams, timeout=10).status_code == 202
    pd_page, slack_page, teams_page = receiver.pages()
    assert (pd_page.level, pd_page.location, pd_page.scores, pd_page.reasons) == (
        "2 (warning)", "4W 3", ["qsofa=2"], ["qSOFA 2"])
    assert (slack_page.level, slack_page.location, slack_page.scores) == ("2 (urgent)", "4W 3", ["qsofa: 2"])
    assert (teams_page.location, teams_page.scores, teams_page.reasons) == ("4W 3", ["qsofa=2"], ["qSOFA 2"])


def test_not_json_is_400(receiver: LocalReceiver) -> None:
    assert httpx.post(f"{receiver.url}/webhook/x", content=b"<xml/>", timeout=10).status_code == 400
    assert receiver.pages() == []


def test_unknown_kind_keeps_only_a_short_text() -> None:
    page = page_from_payload("unknown", "/other", {"text": "hello", "patient_name": "DOE"}, 0.0)
    assert page.transition == "hello" and "DOE" not in repr(page)


def test_kind_is_sniffed_when_the_path_does_not_say(receiver: LocalReceiver) -> None:
    httpx.post(f"{receiver.url}/pager", json=WEBHOOK_BODY, timeout=10)
    assert receiver.pages()[0].kind == "webhook"
    assert receiver.pages()[0].location == "MICU 12-B"


def test_pages_per_episode_counts_pager_triggers_only() -> None:
    from devstack.local_receiver import Page, pager_pages_per_episode, pages_summary

    def page(kind: str, action: str, episode: str) -> Page:
        return Page(received_at=0.0, receiver="r", kind=kind, action=action, episode_id=episode)

    pages = [page("pagerduty", "trigger", "ep-1"), page("pagerduty", "trigger", "ep-1"),
             page("pagerduty", "resolve", "ep-1"), page("webhook", "trigger", "ep-1"),
             page("pagerduty", "trigger", "ep-2")]
    assert pager_pages_per_episode(pages) == {"ep-1": 2, "ep-2": 1}
    assert pages_summary(pages) == ("rapid-response pager: 3 pages about 2 episodes; per episode max 2, median 2 "
                                    "(1 page: 1, 2 pages: 1 episodes)")
    assert pages_summary([]) == "rapid-response pager: no page"
