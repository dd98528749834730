"""Delivery to real HTTP servers on 127.0.0.1 playing PagerDuty, Slack, Teams and a generic webhook.

Failure injection: 500s, timeouts, 429 with Retry-After, 400, a closed port.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import orjson
import pytest

from notifier.core.model import DeliveryOutcome
from notifier.core.signing import verify_webhook
from notifier.integrations.teams import ADAPTIVE_CARD_TYPE
from schemas.alert import AlertTransition
from tests.notifier.harness import fast_retry, make_harness
from tests.notifier.helpers import Receiver, Reply, closed_port, make_alert, running_receiver

PD_KEY = "R0UT1NGKEY0123456789abcdefSECRET"
SLACK_PATH = "/services/T0000/B0000/SlackToken1234567890"
TEAMS_PATH = "/workflows/abc/triggers/manual/paths/invoke?sig=TeamsSig987654321"
HOOK_PATH = "/hooks/ehr-inbox-Token5550123"
HOOK_SECRET = "whsec_test_0123456789"
FALLBACK_PATH = "/hooks/fallback-Token999"


def _doc(rx: Receiver, *, route: dict | None = None, fallback: bool = False, retry: dict | None = None,
         extra_receivers: list | None = None, webhook_phi: dict | None = None, slack_rate: float = 50.0) -> dict:
    receivers = [
        {"name": "pager", "type": "pagerduty", "routing_key": {"value": PD_KEY},
         "url": {"value": rx.url("/v2/enqueue")}, "timeout_s": 0.3},
        {"name": "slack", "type": "slack", "url": {"value": rx.url(SLACK_PATH)}, "rate_per_s": slack_rate,
         "burst": 1},
        {"name": "teams", "type": "teams", "url": {"value": rx.url(TEAMS_PATH)}},
        {"name": "hook", "type": "webhook", "url": {"value": rx.url(HOOK_PATH)}, "secret": {"value": HOOK_SECRET},
         "timeout_s": 0.3, **({"phi": webhook_phi} if webhook_phi else {})},
        {"name": "fallback", "type": "webhook", "url": {"value": rx.url(FALLBACK_PATH)},
         "secret": {"value": HOOK_SECRET}},
    ] + (extra_receivers or [])
    doc: dict = {"receivers": receivers, "route": route or {"receiver": "hook"},
                 "retry": retry or fast_retry()}
    if fallback:
        doc["fallback_receiver"] = "fallback"
    return doc


def test_pagerduty_trigger_then_resolve_closes_the_incident() -> None:
    with running_receiver(202) as rx:
        route = {"receiver": "slack", "routes": [{"match": {"min_level": 3, "transitions": ["opened"]},
                                                  "receiver": "pager"}]}
        harness = make_harness(_doc(rx, route=route))
        opened = make_alert(level=4)
        resolved = make_alert(sequence=1, level=0, transition=AlertTransition.RESOLVED)
        asyncio.run(harness.send(opened, resolved))
        events = [orjson.loads(r.body) for r in rx.at("/v2/enqueue")]
    assert [e["event_action"] for e in events] == ["trigger", "resolve"]
    trigger, resolve = events
    assert trigger["routing_key"] == PD_KEY and trigger["dedup_key"] == opened.episode_id
    assert resolve["dedup_key"] == opened.episode_id and "payload" not in resolve
    payload = trigger["payload"]
    assert payload["severity"] == "critical" and payload["source"] == "sepsis-alert"
    assert len(payload["summary"]) <= 1024 and "MICU" in payload["summary"]
    assert payload["custom_details"]["scores"]["news2"] == "7 (high)"
    assert payload["custom_details"]["reasons"][0].startswith("NEWS2 7")
    assert trigger["links"][0]["href"].startswith(f"https://notifier.test/ack/{opened.episode_id}?t=")


def test_pagerduty_summary_is_capped_at_1024_chars() -> None:
    with running_receiver(202) as rx:
        doc = _doc(rx, route={"receiver": "pager"})
        doc["receivers"][0]["phi"] = {"max_reasons": 10}
        harness = make_harness(doc)
        long_alert = make_alert(reasons=["x" * 190] * 10)
        asyncio.run(harness.send(long_alert))
        body = orjson.loads(rx.at("/v2/enqueue")[0].body)
    assert len(body["payload"]["summary"]) == 1024  # 10 reasons of 190 chars would be ~2,000


def test_slack_block_kit_and_teams_adaptive_card() -> None:
    with running_receiver() as rx:
        route = {"receiver": "slack", "routes": [{"receiver": "teams", "continue": True}, {"receiver": "slack"}]}
        harness = make_harness(_doc(rx, route=route))
        alert = make_alert()
        asyncio.run(harness.send(alert))
        slack = orjson.loads(rx.at(SLACK_PATH)[0].body)
        teams = orjson.loads(rx.at("/workflows/abc/triggers/manual/paths/invoke")[0].body)
    assert slack["text"].startswith("Sepsis alert EMERGENCY")
    kinds = [b["type"] for b in slack["blocks"]]
    assert kinds[0] == "header" and "actions" in kinds
    button = next(b for b in slack["blocks"] if b["type"] == "actions")["elements"][0]
    assert button["url"].startswith(f"https://notifier.test/ack/{alert.episode_id}?t=")
    attachment = teams["attachments"][0]
    assert teams["type"] == "message" and attachment["contentType"] == ADAPTIVE_CARD_TYPE
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["actions"][0]["type"] == "Action.OpenUrl"
    assert any(f["title"] == "news2" for f in card["body"][1]["facts"])


def test_webhook_body_and_signature_verify_with_the_recipe() -> None:
    with running_receiver() as rx:
        harness = make_harness(_doc(rx))
        alert = make_alert()
        asyncio.run(harness.send(alert))
        request = rx.at(HOOK_PATH)[0]
    check = verify_webhook(request.headers["x-sepsis-signature"], request.body, [HOOK_SECRET.encode()], time.time())
    assert check == "valid"
    body = json.loads(request.body)
    assert body["episode_id"] == alert.episode_id and body["action"] == "trigger" and body["level"] == 3
    assert request.headers["x-sepsis-delivery"] == f"{alert.alert_id}|hook"


def test_5xx_then_success_is_retried_and_logged_once() -> None:
    with running_receiver() as rx:
        rx.on(HOOK_PATH, Reply(500), Reply(503))
        harness = make_harness(_doc(rx, retry=fast_retry(5)))
        [item] = asyncio.run(harness.send(make_alert()))
        assert len(rx.at(HOOK_PATH)) == 3
    assert item.outcome == DeliveryOutcome.DELIVERED and item.attempts == 3
    assert [e.outcome for e in harness.log.entries] == [DeliveryOutcome.DELIVERED]
    assert harness.metric("sepsis_notifier_retries_total", receiver="hook") == 2
    assert harness.dead_letters.items == []


def test_timeout_is_retried() -> None:
    with running_receiver() as rx:
        rx.on(HOOK_PATH, Reply(200, delay_s=1.0))
        harness = make_harness(_doc(rx))
        [item] = asyncio.run(harness.send(make_alert()))
    assert item.outcome == DeliveryOutcome.DELIVERED and item.attempts == 2
    assert harness.metric("sepsis_notifier_delivery_attempts_total", receiver="hook", kind="timeout") == 1


def test_429_honours_retry_after() -> None:
    with running_receiver() as rx:
        rx.on(HOOK_PATH, Reply(429, headers={"Retry-After": "1"}))
        harness = make_harness(_doc(rx))
        [item] = asyncio.run(harness.send(make_alert()))
        first, second = rx.at(HOOK_PATH)
    assert item.outcome == DeliveryOutcome.DELIVERED
    # Backoff alone would wait at most 0.01 s; the gap comes from Retry-After.
    assert second.at - first.at >= 0.9


def test_other_4xx_fails_at_once_then_fallback_and_dead_letter() -> None:
    with running_receiver() as rx:
        rx.on(HOOK_PATH, Reply(400))
        harness = make_harness(_doc(rx, fallback=True, retry=fast_retry(5)))
        [item] = asyncio.run(harness.send(make_alert()))
        assert len(rx.at(HOOK_PATH)) == 1
        assert len(rx.at(FALLBACK_PATH)) == 1
    assert item.outcome == DeliveryOutcome.FAILED and item.delivered_by == "fallback"
    [(dead, code, message)] = harness.dead_letters.items
    assert code == "delivery_failed" and "permanent_failure" in message and dead.receiver == "hook"


def test_closed_port_exhausts_retries_then_fallback_dead_letter_and_metric() -> None:
    with running_receiver() as rx:
        doc = _doc(rx, fallback=True, retry=fast_retry(3), route={"receiver": "dead"}, extra_receivers=[
            {"name": "dead", "type": "webhook", "url": {"value": f"http://127.0.0.1:{closed_port()}/x-DeadToken42"},
             "secret": {"value": HOOK_SECRET}}])
        harness = make_harness(doc)
        alert = make_alert()
        [item] = asyncio.run(harness.send(alert))
        fallback = rx.at(FALLBACK_PATH)
    assert item.outcome == DeliveryOutcome.FAILED and item.attempts == 3
    assert len(fallback) == 1 and json.loads(fallback[0].body)["episode_id"] == alert.episode_id
    assert harness.metric("sepsis_notifier_dead_letters_total", receiver="dead") == 1
    assert harness.metric("sepsis_notifier_delivery_attempts_total", receiver="dead", kind="connection") == 3
    assert [e.outcome for e in harness.log.entries] == [DeliveryOutcome.FAILED]
    # A re-delivered alert is not retried again (the log says it already failed and went to the fallback).
    asyncio.run(harness.send(alert))
    assert len(harness.dead_letters.items) == 1


def test_closed_port_is_retried_in_the_background_until_the_deadline_then_dead_lettered() -> None:
    with running_receiver() as rx:
        doc = _doc(rx, fallback=True, retry=fast_retry(3, deadline_s=0.5), route={"receiver": "dead"},
                   extra_receivers=[{"name": "dead", "type": "webhook", "url": {
                       "value": f"http://127.0.0.1:{closed_port()}/x-DeadToken42"}, "secret": {"value": HOOK_SECRET}}])
        harness = make_harness(doc)
        alert = make_alert()
        started = time.monotonic()
        [item] = asyncio.run(harness.send(alert))
        waited_s = time.monotonic() - started
        fallback = rx.at(FALLBACK_PATH)
    assert item.outcome == DeliveryOutcome.RETRYING, "the pipeline must not wait for the background retries"
    # the fallback was told once, at the first failure, and why
    assert len(fallback) == 1
    assert "receiver dead unavailable: still retrying" in json.loads(fallback[0].body)["reasons"][0]
    # `retrying` first (before the offset commit), re-written by each background attempt (the heartbeat), then the end
    outcomes = [e.outcome for e in harness.log.entries]
    assert outcomes[-1] == DeliveryOutcome.FAILED and set(outcomes[:-1]) == {DeliveryOutcome.RETRYING}
    assert len({e.failing_since_s for e in harness.log.entries[:-1]}) == 1
    attempts = harness.metric("sepsis_notifier_delivery_attempts_total", receiver="dead", kind="connection")
    assert attempts > 3 and harness.log.entries[-1].attempts == attempts, "no background attempt was made"
    assert waited_s >= 0.5, "dead-lettered before the deadline"
    [(dead, code, message)] = harness.dead_letters.items
    assert dead.receiver == "dead" and code == "delivery_failed" and "deadline_passed" in message
    assert harness.metric("sepsis_notifier_deliveries_retrying", receiver="dead") == 0


def test_same_alert_twice_is_sent_once() -> None:
    with running_receiver() as rx:
        harness = make_harness(_doc(rx))
        alert = make_alert()
        asyncio.run(harness.send(alert, alert))
        assert len(rx.at(HOOK_PATH)) == 1
    assert harness.metric("sepsis_notifier_deduplicated_total", reason="already_delivered") == 1


def test_throttle_spaces_messages_to_one_receiver() -> None:
    with running_receiver() as rx:
        harness = make_harness(_doc(rx, route={"receiver": "slack"}, slack_rate=5.0))
        started = time.monotonic()
        asyncio.run(harness.send(make_alert(sequence=0), make_alert(sequence=1), concurrently=True))
        arrivals = sorted(r.at for r in rx.at(SLACK_PATH))
    assert len(arrivals) == 2
    # 5 per second, burst 1: the second message cannot leave before its token, 0.2 s after the start.
    assert arrivals[1] - started >= 0.19
    assert harness.metric("sepsis_notifier_throttle_waits_total", receiver="slack") == 1


@pytest.mark.parametrize(("phi", "forbidden", "required"), [
    (None, ["MRN12345678", "5678", "General", '"room"', "fourth reason", "event_time"],
     ['"unit":"MICU"', '"bed":"12"', '"scores"', "ack_url"]),
    ({"allow": ["unit", "level"]}, ["MRN12345678", '"bed"', '"scores"', '"reasons"', "ack_url"], ['"unit":"MICU"']),
    ({"allow": ["unit", "masked_mrn"]}, ["MRN12345678"], ['"masked_mrn":"*******5678"']),
])
def test_phi_policy_enforced_in_the_delivered_body(phi: dict | None, forbidden: list, required: list) -> None:
    with running_receiver() as rx:
        harness = make_harness(_doc(rx, webhook_phi=phi))
        asyncio.run(harness.send(make_alert()))
        body = rx.at(HOOK_PATH)[0].body.decode()
    for text in forbidden:
        assert text not in body, text
    for text in required:
        assert text in body, text


def test_no_patient_identifier_in_any_integration_by_default() -> None:
    with running_receiver(202) as rx:
        route = {"receiver": "hook", "routes": [{"receiver": name, "continue": True}
                                                for name in ("pager", "slack", "teams", "hook")]}
        harness = make_harness(_doc(rx, route=route))
        asyncio.run(harness.send(make_alert()))
        assert len(rx.requests) == 4
        for request in rx.requests:
            assert b"MRN12345678" not in request.body and b"*5678" not in request.body


def test_no_secret_leaks_into_any_log_line(caplog: pytest.LogCaptureFixture) -> None:
    secrets = [PD_KEY, "SlackToken1234567890", "TeamsSig987654321", "Token5550123", HOOK_SECRET, "DeadToken42"]
    caplog.set_level(logging.DEBUG)
    with running_receiver() as rx:
        rx.on(HOOK_PATH, Reply(500), Reply(500), Reply(500))
        rx.on("/v2/enqueue", Reply(429, headers={"Retry-After": "0"}))
        route = {"receiver": "hook", "routes": [{"receiver": n, "continue": True}
                                                for n in ("pager", "slack", "teams", "hook", "dead")]}
        doc = _doc(rx, fallback=True, route=route, extra_receivers=[
            {"name": "dead", "type": "webhook", "url": {"value": f"http://127.0.0.1:{closed_port()}/x-DeadToken42"},
             "secret": {"value": HOOK_SECRET}}])
        harness = make_harness(doc)
        asyncio.run(harness.send(make_alert()))
    text = "\n".join(caplog.text.splitlines() + [r.getMessage() for r in caplog.records])
    assert "OPS ALERT" in text and "HTTP Request" in text  # the failures and httpx's request lines were logged...
    for secret in secrets:
        assert secret not in text, f"secret {secret[:4]}... leaked into the logs"  # ...without a secret
    assert "MRN12345678" not in text and "NEWS2 7" not in text  # and without message bodies


def test_every_delivery_log_line_carries_the_correlation_id_and_no_body(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="notifier")
    alert = make_alert(correlation_id="hl7:LAB:CTRL-77")
    with running_receiver() as rx:
        rx.on(HOOK_PATH, Reply(500))  # one retry, then delivered
        dead = {"name": "dead", "type": "webhook", "url": {"value": f"http://127.0.0.1:{closed_port()}/x"},
                "secret": {"value": HOOK_SECRET}}
        route = {"receiver": "hook", "routes": [{"receiver": "dead", "continue": True}, {"receiver": "hook"}]}
        harness = make_harness(_doc(rx, fallback=True, route=route, extra_receivers=[dead], retry=fast_retry(2)))
        asyncio.run(harness.send(alert))
    delivery = [r for r in caplog.records if r.name.startswith("notifier.stages.")]
    kinds = {getattr(r, "outcome", "retry") for r in delivery}
    assert {"retry", "delivered", "failed"} <= kinds  # retry warning, success line, OPS ALERT line
    for record in delivery:
        assert record.correlation_id == "hl7:LAB:CTRL-77"  # type: ignore[attr-defined]
        assert record.alert_id == alert.alert_id and record.receiver  # type: ignore[attr-defined]
        shown = record.getMessage() + repr(vars(record))
        assert "NEWS2 7" not in shown and alert.patient_key not in shown
