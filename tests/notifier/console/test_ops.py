"""The ops pages' read model (pure): feed silence, lag rows, dead-letter metadata and counts, silence audit,
routing rows without secrets."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from notifier.config import parse_config
from notifier.console.ops import (
    MAX_FEEDS,
    DeadLetterMeta,
    OpsBook,
    dead_letter_counts,
    feed_rows,
    lag_rows,
    receiver_rows,
    route_rows,
    silence_audit_rows,
)
from notifier.core.silence import Silence
from schemas.dead_letter import DeadLetter, DeadLetterDetail

NOW = 1_800_000_000.0


def test_a_feed_silent_past_the_threshold_is_flagged_and_listed_first() -> None:
    rows = feed_rows({("raw", "hl7v2", "LAB1"): NOW - 60, ("raw", "hl7v2", "ADT"): NOW - 3600,
                      ("raw", "fhir", "EHR"): NOW - 899}, NOW, silent_after_s=900)
    assert [(r.sender, r.silent) for r in rows] == [("ADT", True), ("EHR", False), ("LAB1", False)]
    assert rows[0].silent_for == "1 h"


def test_lag_rows_sum_partitions_and_never_read_missing_end_offsets_as_caught_up() -> None:
    committed = {"sepsis-detector": {("obs", 0): 10, ("obs", 1): 5, ("care", 0): 3},
                 "sepsis-notifier": {("alerts", 0): 7, ("alerts", 1): -1}}
    ends = {("obs", 0): 12, ("obs", 1): 9, ("alerts", 0): 7}
    rows = lag_rows(committed, ends)
    by_key = {(r.group, r.topic): r for r in rows}
    assert by_key[("sepsis-detector", "obs")].lag == 6 and by_key[("sepsis-detector", "obs")].partitions == 2
    assert by_key[("sepsis-detector", "care")].lag is None  # end offset unknown: unknown, not 0
    assert by_key[("sepsis-notifier", "alerts")].lag == 0 and by_key[("sepsis-notifier", "alerts")].partitions == 1
    assert rows[0].lag is None and rows[1].topic == "obs"  # unknown first (cannot be ruled out), then most behind


def test_dead_letter_metadata_never_keeps_the_payload_or_the_message() -> None:
    letter = DeadLetter.for_payload(b"MSH|^~\\&|LAB|...\rPID|1||123||DOE^JANE", source="hl7v2", worker="hl7-1",
                                    error_code="parse_error", error_message="PID-5 'DOE^JANE' is not valid",
                                    details=[DeadLetterDetail(location="PID-5", message="DOE^JANE")],
                                    received_at=datetime.fromtimestamp(NOW, UTC))
    meta = DeadLetterMeta.from_json(letter.to_json_bytes(), fallback_at_s=0.0)
    assert meta == DeadLetterMeta("hl7v2", "hl7-1", "parse_error", ("PID-5",), NOW)
    assert "DOE" not in repr(meta)
    broken = DeadLetterMeta.from_json(b"not json", fallback_at_s=NOW)
    assert broken.error_code == "unreadable_dead_letter" and broken.received_at_s == NOW
    assert DeadLetterMeta.from_json(orjson.dumps({"source": "fhir"}), NOW).error_code == "unknown"


def test_the_book_counts_per_source_and_reason_and_keeps_only_the_recent_ones() -> None:
    book = OpsBook(recent=3)
    for i, code in enumerate(["parse_error", "parse_error", "unknown_unit", "parse_error"]):
        book.on_dead_letter(DeadLetterMeta("hl7v2", "w", code, (), NOW + i))
    snap = book.snapshot()
    assert [(r.error_code, r.count) for r in dead_letter_counts(snap.dead_letter_counts)] == [
        ("parse_error", 3), ("unknown_unit", 1)]
    assert [d.received_at_s for d in snap.recent_dead_letters] == [NOW + 3, NOW + 2, NOW + 1]  # newest first


def test_the_book_bounds_feeds_and_keeps_the_latest_time() -> None:
    book = OpsBook()
    book.on_raw(("raw", "hl7v2", "LAB1"), NOW)
    book.on_raw(("raw", "hl7v2", "LAB1"), NOW - 10)  # an older record read later does not move it back
    for i in range(MAX_FEEDS + 5):
        book.on_raw(("raw", "hl7v2", f"S{i}"), NOW)
    feeds = book.snapshot().feeds
    assert feeds[("raw", "hl7v2", "LAB1")] == NOW
    assert len(feeds) == MAX_FEEDS + 1 and ("raw", "hl7v2", "other") in feeds


def test_an_outage_keeps_the_last_figures_and_the_time_it_began() -> None:
    book = OpsBook()
    book.on_lag({"g": {("t", 0): 1}}, {("t", 0): 4}, NOW)
    book.on_unreachable(NOW + 10, "KafkaTimeoutError")
    book.on_unreachable(NOW + 40, "KafkaTimeoutError")
    snap = book.snapshot()
    assert snap.unreachable_since_s == NOW + 10 and snap.lag_read_at_s == NOW
    assert lag_rows(snap.committed, snap.end_offsets)[0].lag == 3
    book.on_lag({}, {}, NOW + 50)
    assert book.snapshot().unreachable_since_s is None


def _silence(sid: str, ends: float, expired: float | None = None, by: str | None = None) -> Silence:
    return Silence(id=sid, unit="MICU", starts_at_s=NOW - 7200, ends_at_s=ends, created_by="ana",
                   reason="EHR downtime", created_at_s=NOW - 7200, expired_at_s=expired, expired_by=by)


def test_the_audit_list_holds_ended_silences_with_who_ended_them() -> None:
    rows = silence_audit_rows([_silence("running", NOW + 60), _silence("ran-out", NOW - 100),
                               _silence("expired", NOW + 3600, expired=NOW - 10, by="bob")], NOW)
    assert [(r.ended_by, r.ended_at_s) for r in rows] == [("bob", NOW - 10), ("(ran out)", NOW - 100)]
    assert rows[0].matchers == "unit=MICU" and rows[0].created_by == "ana" and rows[0].reason == "EHR downtime"


def test_routing_rows_show_matchers_targets_and_tiers_but_no_url_or_key() -> None:
    config = parse_config({
        "receivers": [{"name": "ward", "type": "webhook", "url": {"value": "https://hooks.example/T0K3N-secret"},
                       "secret": {"value": "whsec-0123456789"}},
                      {"name": "rrt", "type": "pagerduty", "routing_key": {"value": "R0UTINGKEY0123456789"}}],
        "escalation_policies": [{"name": "chain", "tiers": [{"receiver": "ward"},
                                                            {"receiver": "rrt", "delay_s": 120}]}],
        "route": {"receiver": "ward", "routes": [{"name": "severe", "match": {"min_level": 3, "units": ["MICU"]},
                                                  "escalation": "chain", "continue": True}]},
        "fallback_receiver": "ward"})
    routes = route_rows(config)
    assert [(r.name, r.depth) for r in routes] == [("root", 0), ("severe", 1)]
    assert routes[0].matcher == "every alert" and routes[0].target == "receiver ward"
    assert routes[1].matcher == "min_level=3; units=MICU" and routes[1].continues
    assert routes[1].target == "escalation chain: ward → rrt (+120 s)"
    receivers = {r.name: r for r in receiver_rows(config)}
    assert receivers["rrt"].kind == "pagerduty" and receivers["rrt"].escalations == "chain tier 1 (+120 s)"
    assert receivers["ward"].escalations == "chain tier 0; fallback"
    text = repr(routes) + repr(receivers)
    assert "T0K3N" not in text and "whsec" not in text and "R0UTINGKEY" not in text
