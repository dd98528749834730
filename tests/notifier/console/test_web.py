"""The console over real HTTP on a real notifier (session broker): sign-in, roles, CSRF, actions reaching the
acks topic and the escalation state, live events, the acknowledge link's page."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from notifier.adapters.kafka_state import NotifierTopics
from notifier.app import NotifierApp
from sepsis_alert.kafka.config import KafkaSettings
from tests.notifier.adapters.kafka_harness import eventually, make_topics, produce
from tests.notifier.console.conftest import (
    acks_written,
    console_app,
    csrf_of,
    running,
    sign_in,
    users_file,
    with_receiver,
)
from tests.notifier.harness import fast_retry
from tests.notifier.helpers import Receiver, make_alert

pytestmark = pytest.mark.integration


def _doc(rx: Receiver) -> dict:
    receivers = [{"name": name, "type": "webhook", "url": {"value": rx.url(f"/{name}")},
                  "secret": {"value": "whsec-0123456789"}} for name in ("nurse", "rrt")]
    return {"receivers": receivers,
            "escalation_policies": [{"name": "chain", "tiers": [{"receiver": "nurse"},
                                                                {"receiver": "rrt", "delay_s": 2.0}]}],
            "route": {"receiver": "nurse", "routes": [{"match": {"min_level": 3}, "escalation": "chain"}]},
            "retry": fast_retry(), "escalation_tick_s": 0.1, "paging": {"min_level": 3, "max_snooze_h": 2}}


@pytest.fixture
def topics(kafka_topics: dict, make_topic) -> NotifierTopics:  # type: ignore[no-untyped-def]
    return make_topics(make_topic)


def _client(app: NotifierApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.api_port}", timeout=10)


def test_unauthenticated_requests_are_refused(kafka_settings: KafkaSettings, topics: NotifierTopics,
                                              tmp_path: Path) -> None:
    async def scenario(rx: Receiver) -> None:
        app = console_app(kafka_settings, topics, _doc(rx), users_file(tmp_path))
        async with running(app), _client(app) as client:
            page = await client.get("/console/")
            assert page.status_code == 303 and page.headers["location"] == "/console/login?next=/console/"
            assert (await client.get("/console/events")).status_code == 401
            act = await client.post("/console/episodes/ep-x/ack", data={"csrf": "x"})
            assert act.status_code == 401
            wrong = await sign_in(client, "responder", "not-the-password")
            assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
            assert (await client.get("/console/")).status_code == 303

    with_receiver(scenario)


def test_responder_sees_alert_live_acknowledges_and_escalation_stops(
        kafka_settings: KafkaSettings, topics: NotifierTopics, tmp_path: Path) -> None:
    alert = make_alert(patient="P-CONSOLE", level=3)

    async def scenario(rx: Receiver) -> None:
        app = console_app(kafka_settings, topics, _doc(rx), users_file(tmp_path))
        async with running(app), _client(app) as client, _client(app) as stream_client:
            assert (await sign_in(client, "responder")).status_code == 303
            stream_client.cookies = client.cookies
            changed = asyncio.Event()

            async def listen() -> None:
                async with stream_client.stream("GET", "/console/events") as events:
                    assert events.headers["content-type"].startswith("text/event-stream")
                    async for line in events.aiter_lines():
                        if line == "event: changed":
                            changed.set()
                            return

            listener = asyncio.create_task(listen())
            await asyncio.sleep(0.3)
            produce(kafka_settings, topics.alerts, alert)
            await asyncio.wait_for(changed.wait(), 20)
            await listener
            worklist = await client.get("/console/")
            assert worklist.status_code == 200 and "MICU 12" in worklist.text
            assert "not acknowledged" in worklist.text and "MRN" not in worklist.text
            await eventually(lambda: len(rx.at("/nurse")) == 1, what="tier 0 page")
            episode = await client.get(f"/console/episodes/{alert.episode_id}")
            assert episode.status_code == 200 and "nurse" in episode.text and 'id="ack-button"' in episode.text
            forged = await client.post(f"/console/episodes/{alert.episode_id}/ack", data={"csrf": "forged"})
            assert forged.status_code == 403 and "CSRF" in forged.text
            done = await client.post(f"/console/episodes/{alert.episode_id}/ack",
                                     data={"csrf": csrf_of(episode.text)})
            assert done.status_code == 303
            assert app.tracker.states[alert.episode_id].acked_at_s is not None
            await asyncio.sleep(2.5)  # longer than tier 1's delay: it must not fire
            assert rx.at("/rrt") == []
            after = await client.get("/console/")
            assert "acknowledged by responder" in after.text

    with_receiver(scenario)
    assert [(a["acked_by"], a["via"], a["action"]) for a in acks_written(kafka_settings, topics.acks)] == [
        ("responder", "console", "ack")]


def test_snooze_is_bounded_close_is_counted_comment_holds_nothing_viewer_is_refused(
        kafka_settings: KafkaSettings, topics: NotifierTopics, tmp_path: Path) -> None:
    commented, closed = make_alert(patient="P-COMMENT", level=3), make_alert(patient="P-CLOSE", level=3)

    async def scenario(rx: Receiver) -> None:
        async with running(console_app(kafka_settings, topics, _doc(rx), users_file(tmp_path))) as app:
            produce(kafka_settings, topics.alerts, commented, closed)
            await eventually(lambda: len(rx.at("/nurse")) == 2, what="both episodes paged")
            async with _client(app) as viewer, _client(app) as responder:
                await sign_in(viewer, "viewer")
                page = await viewer.get(f"/console/episodes/{closed.episode_id}")
                assert page.status_code == 200 and 'id="ack-button"' not in page.text
                refused = await viewer.post(f"/console/episodes/{closed.episode_id}/ack",
                                            data={"csrf": csrf_of(page.text)})
                assert refused.status_code == 403 and "viewer role may not" in refused.text
                assert (await viewer.get("/console/silences")).status_code == 403
                await sign_in(responder, "responder")
                token = csrf_of((await responder.get("/console/")).text)
                base = f"/console/episodes/{commented.episode_id}"
                too_long = await responder.post(f"{base}/snooze", data={"csrf": token, "snooze_minutes": "121"})
                assert too_long.status_code == 422 and "max_snooze_h" in too_long.text
                note = await responder.post(f"{base}/comment", data={"csrf": token, "comment": "lactate redrawn"})
                assert note.status_code == 303
                assert app.tracker.states[commented.episode_id].acked_at_s is None  # a comment acknowledges nothing
                shown = await responder.get(base)
                assert "lactate redrawn" in shown.text and "comment by responder" in shown.text
                bad = await responder.post(f"/console/episodes/{closed.episode_id}/close",
                                           data={"csrf": token, "reason": "bored"})
                assert bad.status_code == 422
                done = await responder.post(f"/console/episodes/{closed.episode_id}/close",
                                            data={"csrf": token, "reason": "not_sepsis", "comment": "post-op fever"})
                assert done.status_code == 303
                assert app.tracker.states[closed.episode_id].acked_at_s is not None
                worklist = (await responder.get("/console/")).text
                assert f'data-episode="{closed.episode_id}"' not in worklist
                assert f'data-episode="{commented.episode_id}"' in worklist
            assert app.metrics.registry.get_sample_value("sepsis_notifier_episode_closed_total",
                                                         {"reason": "not_sepsis"}) == 1

    with_receiver(scenario)
    acks = acks_written(kafka_settings, topics.acks)
    assert sorted((a["action"], a.get("reason"), a.get("comment")) for a in acks) == [
        ("close", "not_sepsis", "post-op fever"), ("comment", None, "lactate redrawn")]


def test_ack_link_page_says_what_is_acknowledged_and_a_restart_keeps_the_console(
        kafka_settings: KafkaSettings, topics: NotifierTopics, tmp_path: Path) -> None:
    alert = make_alert(patient="P-LINK", level=3, reasons=["NEWS2 9", "lactate 4.1 mmol/L"])

    async def scenario(rx: Receiver) -> None:
        users = users_file(tmp_path)
        async with running(console_app(kafka_settings, topics, _doc(rx), users)):
            produce(kafka_settings, topics.alerts, alert)
            await eventually(lambda: len(rx.at("/nurse")) == 1, what="the page")
            link = json.loads(rx.at("/nurse")[0].body)["ack_url"]
            async with httpx.AsyncClient(timeout=10) as client:
                page = await client.get(link)
            assert page.status_code == 200
            assert "MICU 12" in page.text and "level 3 (emergency)" in page.text and "lactate 4.1" in page.text
        # rebuilt from the notification log: the episode and its delivery are back
        restarted = console_app(kafka_settings, topics, _doc(rx), users)
        async with running(restarted), _client(restarted) as client:
            await sign_in(client, "ops")
            episode = await client.get(f"/console/episodes/{alert.episode_id}")
            assert episode.status_code == 200 and "lactate 4.1" in episode.text and "delivered" in episode.text

    with_receiver(scenario)
