"""FeedActivity: the last-message age grows while a feed is silent and resets when it sends again."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from sepsis_alert.ops.feed_health import FeedActivity, feed_ages


class _Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_feed_ages_never_negative() -> None:
    assert feed_ages({("hl7v2", "LAB"): 110.0, ("fhir", "ehr"): 90.0}, 100.0) == {
        ("hl7v2", "LAB"): 0.0, ("fhir", "ehr"): 10.0}


def test_age_grows_while_silent_and_resets_on_message() -> None:
    clock = _Clock()
    registry = CollectorRegistry()
    feeds = FeedActivity(registry, clock=clock)
    feeds.record("hl7v2", "LAB1")
    clock.now += 30
    age_name = "sepsis_ingest_feed_last_message_age_seconds"
    assert _sample(registry, age_name, source="hl7v2", feed="LAB1") == 30.0
    clock.now += 570  # the feed stops: ten minutes without a message
    assert _sample(registry, age_name, source="hl7v2", feed="LAB1") == 600.0
    assert _sample(registry, "sepsis_ingest_feed_last_message_timestamp_seconds",
                   source="hl7v2", feed="LAB1") == clock.now - 600
    feeds.record("hl7v2", "LAB1")
    assert _sample(registry, age_name, source="hl7v2", feed="LAB1") == 0.0


def test_expected_feed_counts_from_declaration_and_older_records_do_not_rewind() -> None:
    clock = _Clock()
    registry = CollectorRegistry()
    feeds = FeedActivity(registry, clock=clock)
    feeds.expect("fhir", "ehr-subscription")
    clock.now += 120
    assert feeds.ages() == {("fhir", "ehr-subscription"): 120.0}
    feeds.record("fhir", "ehr-subscription", at_s=clock.now - 10)
    feeds.record("fhir", "ehr-subscription", at_s=clock.now - 50)  # out of order: ignored
    assert feeds.ages() == {("fhir", "ehr-subscription"): 10.0}


def test_exposition_has_both_gauges() -> None:
    registry = CollectorRegistry()
    FeedActivity(registry).record("hl7v2", "ADT")
    text = generate_latest(registry).decode()
    assert "# TYPE sepsis_ingest_feed_last_message_age_seconds gauge" in text
    assert 'sepsis_ingest_feed_last_message_timestamp_seconds{feed="ADT",source="hl7v2"}' in text
