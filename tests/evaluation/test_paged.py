"""What is paged: the evaluation's replay of the paging policy, and the running notifier sending the same pages.

The replay test runs real stays through the evaluation (detector engine + paging policy + routing, offline), then
sends the same stays' alerts through Kafka to a real notifier replica with the same routing and paging policy, and
compares what a loopback pager receives with what the evaluation counted: the same pages, per episode.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest
import yaml

from evaluation.evaluate import EvalOptions, evaluate_files, paging_replay, stay_alerts
from evaluation.paging import PagingReplay, paged_metrics
from notifier.core.paging import PagingPolicy
from notifier.core.routing import Route
from schemas.alert import Alert, AlertLevel, AlertTransition, ScoreSnapshot, alert_id_for, episode_id_for
from sepsis_alert.kafka.config import KafkaSettings
from tests.notifier.adapters.kafka_harness import eventually, make_app, make_topics, produce
from tests.notifier.harness import fast_retry
from tests.notifier.helpers import running_receiver

SAMPLE = Path(__file__).parent / "data" / "physionet_sample"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _alert(patient: str, sequence: int, hours: int, level: int, transition: AlertTransition) -> Alert:
    episode = episode_id_for(patient, T0)
    return Alert(patient_key=patient, alert_id=alert_id_for(episode, sequence), episode_id=episode,
                 sequence=sequence, level=AlertLevel(level), transition=transition,
                 scores=[ScoreSnapshot(name="risk_model", value=0.1)], event_time=T0 + timedelta(hours=hours),
                 emitted_at=T0 + timedelta(hours=hours))


def test_the_paged_series_runs_from_the_first_page_to_the_resolve() -> None:
    replay = PagingReplay(PagingPolicy(), Route(receiver="pager"), {}, ["pager"])
    alerts = [(1, _alert("p", 0, 1, 2, AlertTransition.OPENED)),  # below the page level: not flagged yet
              (3, _alert("p", 1, 3, 3, AlertTransition.ESCALATED)),  # first page
              (5, _alert("p", 2, 5, 2, AlertTransition.DE_ESCALATED)),
              (6, _alert("p", 3, 6, 3, AlertTransition.ESCALATED)),  # paged 3 h ago: an update
              (8, _alert("p", 4, 8, 0, AlertTransition.RESOLVED))]
    stay = replay.stay(alerts, 12)
    assert stay.active.tolist() == [False] * 3 + [True] * 5 + [False] * 4
    assert [(p.row, p.level, p.reason, p.pager) for p in stay.pages] == [(3, 3, "first_page", True)]
    assert stay.pages_per_episode == [1]
    labels = np.zeros(12, dtype=np.int8)
    labels[9:] = 1  # onset at row 15: the page at row 3 is 12 h early, inside the rewarded window
    metrics = paged_metrics([labels], [stay], {"utility": 0.5, "sensitivity": 1.0, "median_lead_h": 12.0})
    assert metrics["pages"] == 1 and metrics["ppv_pages"] == 1.0 and metrics["patients_paged_share"] == 1.0
    assert metrics["pages_per_patient_day"] == 2.0 and metrics["rrt_pages_per_patient_day"] == 2.0
    assert metrics["decisions"] == {"page:first_page": 1, "resolve:resolved": 1, "update:below_page_level": 2,
                                    "update:paged_recently": 1}


def _doc(rx_url: str) -> dict:
    """A notifier configuration like the shipped one: untreated pages to a pager, every change to a record."""
    return {
        "receivers": [
            {"name": "rrt", "type": "webhook", "url": {"value": rx_url + "/rrt"}, "secret": {"value": "whsec-rrt-0"}},
            {"name": "record", "type": "webhook", "url": {"value": rx_url + "/record"},
             "secret": {"value": "whsec-rec-0"}},
        ],
        "route": {"receiver": "rrt", "routes": [
            {"name": "record", "match": {"kinds": ["page", "update", "resolve"]}, "receiver": "record",
             "continue": True},
            {"name": "pager", "match": {"min_level": 3}, "receiver": "rrt"},
        ]},
        "paging": {"min_level": 3, "lookback_h": 6, "max_pages_per_24h": 2},
        "retry": fast_retry(),
    }


@pytest.mark.integration
def test_the_evaluation_counts_exactly_the_pages_the_running_notifier_sends(
        kafka_settings: KafkaSettings, make_topic, kafka_topics: dict, tmp_path: Path) -> None:
    files = sorted(SAMPLE.glob("*.psv"))
    with running_receiver() as rx:
        doc = _doc(rx.url("").rstrip("/"))
        config_path = tmp_path / "notifier.yaml"
        config_path.write_text(yaml.safe_dump(doc))
        options = EvalOptions(workers=1, in_stream_model=True, notifier_config=config_path, progress=False)
        series = evaluate_files(files, options)
        expected_pages = Counter(p.episode_id for stay in series.paging for p in stay.pages)
        assert sum(expected_pages.values()) >= 3, "the sample must page somebody for this test to mean anything"
        alerts = [alert for path in files for _, alert in stay_alerts(path, options)]
        assert len(alerts) > sum(expected_pages.values()), "some transitions must be updates, not pages"
        assert paging_replay(config_path).policy == PagingPolicy(min_level=3, lookback_h=6, max_pages_per_24h=2)
        topics = make_topics(make_topic)

        async def scenario() -> None:
            app = make_app(kafka_settings, topics, doc)
            await app.start()
            try:
                produce(kafka_settings, topics.alerts, *alerts)
                await eventually(lambda: len(rx.at("/record")) >= len(alerts), timeout_s=60,
                                 what="every transition recorded")
                await asyncio.sleep(0.5)
            finally:
                await app.stop()

        asyncio.run(scenario())
        bodies = [orjson.loads(r.body) for r in rx.at("/rrt")]
        received = Counter(b["episode_id"] for b in bodies if b["paging"] == "page")
        assert received == expected_pages
        assert {b["paging"] for b in bodies} <= {"page", "resolve"}  # no update reached the pager
        assert max(received.values()) <= 4  # the episode budget (3) plus its first rise to level 4

