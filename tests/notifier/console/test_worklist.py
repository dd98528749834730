"""The console's read model (pure): which episodes are open, in what order, and how each row reads."""

from __future__ import annotations

import gc
from datetime import timedelta

from notifier.console.history import MAX_VITALS, EpisodeBook
from notifier.console.worklist import RiskBands, ago, build_episode, build_worklist, risk_text
from notifier.core.model import AckEvent, DeliveryOutcome, Notification, NotificationLogEntry, NotifyAction
from notifier.core.paging import PageKind
from notifier.core.phi import DEFAULT_ALLOWED, LOCATION_UNKNOWN, LOCATION_WITHHELD, PhiPolicy
from schemas.alert import Alert, AlertTransition, ScoreInput, ScoreSnapshot
from tests.notifier.helpers import T0, make_alert

BANDS = RiskBands(baseline=0.02, raised=0.0295, high=0.069)
POLICY = PhiPolicy(allow=[*DEFAULT_ALLOWED, "treatment_started"], max_reasons=4)
NOW = T0.timestamp() + 3600


def with_risk(alert: Alert, risk: float, reason: str = "respiratory rate rising; lactate 2.6") -> Alert:
    scores = [*alert.scores, ScoreSnapshot(name="risk_model", value=risk, band="elevated", reason=reason)]
    return alert.model_copy(update={"scores": scores})


def ack(episode: str, at_s: float, action: str = "ack", by: str = "dr.lee", **extra: object) -> AckEvent:
    return AckEvent(episode_id=episode, acked_by=by, via="console", acked_at_s=at_s, action=action,  # type: ignore[arg-type]
                    **extra)  # type: ignore[arg-type]


def test_risk_reads_as_a_clinician_would() -> None:
    assert risk_text(0.14, BANDS) == "high, 14 % (×7 baseline)"
    assert risk_text(0.03, BANDS) == "raised, 3.0 % (×1.5 baseline)"
    assert risk_text(0.01, BANDS) == "low, 1.0 % (×0.5 baseline)"
    assert risk_text(None, BANDS) == "no risk score"


def test_ago_counts_minutes_hours_days() -> None:
    assert [ago(59), ago(60 * 5), ago(3600 * 2 + 300), ago(3600 * 50), ago(None)] == [
        "0 min", "5 min", "2 h 5 min", "2 d 2 h", "—"]


def test_rows_are_open_episodes_sorted_by_level_then_risk_then_age() -> None:
    book = EpisodeBook()
    low = with_risk(make_alert("P1", level=2), 0.2)
    high_a = with_risk(make_alert("P2", level=4), 0.05)
    high_b = with_risk(make_alert("P3", level=4), 0.30)
    older_same = with_risk(make_alert("P4", level=4), 0.30)
    resolved = make_alert("P5", level=3, transition=AlertTransition.RESOLVED)
    book.on_alert(low, NOW - 600)
    book.on_alert(high_a, NOW - 500)
    book.on_alert(high_b, NOW - 400)
    book.on_alert(older_same, NOW - 900)
    book.on_alert(resolved, NOW - 100)
    rows = build_worklist(book, NOW, POLICY, BANDS)
    assert [r.episode_id for r in rows] == [older_same.episode_id, high_b.episode_id, high_a.episode_id,
                                            low.episode_id]
    assert rows[0].opened_ago == "15 min" and rows[0].risk_text.startswith("high, 30 %")


def test_row_shows_location_reasons_markers_never_the_patient_key() -> None:
    book = EpisodeBook()
    alert = with_risk(make_alert("MRN99887766", treatment_started=True,
                                 cannot_rule_out=["heart rate: last 5.5 h ago"]), 0.1)
    book.on_alert(alert, NOW - 60)
    (row,) = build_worklist(book, NOW, POLICY, BANDS)
    assert row.location == "MICU 12"  # room is not in the default policy
    assert row.reasons[:3] == tuple(alert.reasons[:3])
    assert row.reasons[3] == "model: respiratory rate rising; lactate 2.6"
    assert row.markers == ("antibiotics started", "stale — cannot rule out")
    assert "MRN99887766" not in repr(row) and "8776" not in repr(row)
    assert row.ack == "" and row.last_page_ago == "not paged"


def test_location_unknown_and_withheld_are_told_apart() -> None:
    book = EpisodeBook()
    book.on_alert(make_alert("P1").model_copy(update={"location": None}), NOW)
    (row,) = build_worklist(book, NOW, POLICY, BANDS)
    assert row.location == LOCATION_UNKNOWN
    (hidden,) = build_worklist(book, NOW, PhiPolicy(allow=["level"]), BANDS)
    assert hidden.location == LOCATION_UNKNOWN
    book.on_alert(make_alert("P2"), NOW)
    rows = build_worklist(book, NOW, PhiPolicy(allow=["level"]), BANDS)
    withheld = [r for r in rows if r.location != LOCATION_UNKNOWN]
    assert withheld[0].location == LOCATION_WITHHELD and withheld[0].reasons == ()


def test_ack_snooze_comment_and_close_change_the_row() -> None:
    book = EpisodeBook()
    alert = make_alert("P1", level=3)
    book.on_alert(alert, NOW - 600)
    book.on_ack(ack(alert.episode_id, NOW - 300, action="comment", comment="lactate redrawn"))
    (row,) = build_worklist(book, NOW, POLICY, BANDS)
    assert row.ack == ""  # a comment is not an acknowledgement
    book.on_ack(ack(alert.episode_id, NOW - 200, action="snooze", snooze_until_s=NOW + 3600))
    (row,) = build_worklist(book, NOW, POLICY, BANDS)
    assert row.ack == "snoozed by dr.lee until worse (at most 1 h more)"
    book.on_ack(ack(alert.episode_id, NOW - 100, action="close", reason="comfort_care", level=3))
    assert build_worklist(book, NOW, POLICY, BANDS) == []
    # worse after the close: the episode is back on the list
    book.on_alert(make_alert("P1", sequence=1, level=4, transition=AlertTransition.ESCALATED), NOW - 50)
    (row,) = build_worklist(book, NOW, POLICY, BANDS)
    assert row.level == 4


def test_an_ack_read_twice_is_recorded_once() -> None:
    book = EpisodeBook()
    alert = make_alert("P1")
    book.on_alert(alert, NOW)
    event = ack(alert.episode_id, NOW)
    book.on_ack(event)
    book.on_ack(event)
    record = book.get(alert.episode_id)
    assert record is not None and len(record.actions) == 1


def test_episode_page_has_plots_timeline_notifications_and_actions() -> None:
    book = EpisodeBook()
    inputs = [ScoreInput(measure="hr", value=118.0 + i, unit="/min", effective_at=T0 + timedelta(minutes=i))
              for i in range(3)]
    first = with_risk(make_alert("P1", level=3), 0.05)
    first = first.model_copy(update={"scores": [*first.scores, ScoreSnapshot(name="sirs", value=3, inputs=inputs)]})
    second = with_risk(make_alert("P1", sequence=1, level=4, transition=AlertTransition.ESCALATED), 0.12)
    book.on_alert(first, NOW - 600)
    item = Notification(alert=second, receiver="rrt-pager", kind=PageKind.PAGE, action=NotifyAction.TRIGGER,
                        outcome=DeliveryOutcome.DELIVERED, attempts=2)
    book.on_logged(NotificationLogEntry.from_notification(item, NOW - 300))
    book.on_ack(ack(first.episode_id, NOW - 120, comment="on my way"))
    record = book.get(first.episode_id)
    assert record is not None
    page = build_episode(record, NOW, POLICY, BANDS)
    assert [p.sequence for p in page.points] == [0, 1]
    assert [(n.receiver, n.outcome, n.attempts) for n in page.notifications] == [("rrt-pager", "delivered", 2)]
    assert page.row.last_page_ago == "5 min"
    assert [(a.text, a.comment) for a in page.actions] == [("acknowledged by dr.lee", "on my way")]
    svg = "".join(page.plots)
    assert "Learned risk" in svg and "Heart rate" in svg and "SIRS &gt;90" in svg and "NEWS2" in svg
    assert page.status == "open"
    # no scores allowed: no plots of values, no score list
    bare = build_episode(record, NOW, PhiPolicy(allow=["unit", "bed"]), BANDS)
    assert bare.plots == () and bare.scores == () and bare.points == ()


def test_model_explanation_is_not_repeated_when_the_alert_already_gives_it() -> None:
    book = EpisodeBook()
    reason = "temperature 38.4 °C; respiratory rate 24/min"
    alert = with_risk(make_alert("P1", reasons=[f"risk 5% (model m1): {reason}", "NEWS2 10"]), 0.05, reason=reason)
    book.on_alert(alert, NOW)
    (row,) = build_worklist(book, NOW, POLICY, BANDS)
    assert row.reasons == (f"risk 5% (model m1): {reason}", "NEWS2 10")


def test_resolved_episodes_are_dropped_beyond_a_few_and_never_come_back_as_ghosts() -> None:
    book = EpisodeBook(max_episodes=1000, ended_kept=2, ended_ids_kept=100)
    opened = [make_alert(f"P{i}") for i in range(5)]
    for alert in opened:
        book.on_alert(alert, NOW)
        book.on_alert(make_alert(alert.patient_key, sequence=1, transition=AlertTransition.RESOLVED), NOW)
    assert len(book) == 2  # only the two most recently resolved keep their page
    assert book.get(opened[4].episode_id) is not None and book.get(opened[0].episode_id) is None
    book.on_alert(opened[0], NOW)  # an earlier transition's log entry, read after the resolve
    assert book.get(opened[0].episode_id) is None and build_worklist(book, NOW, POLICY, BANDS) == []


def test_vitals_are_kept_once_oldest_first_capped_and_out_of_the_collectors_walk() -> None:
    book = EpisodeBook()
    alert = make_alert("P2", level=3)
    for sequence, minutes in enumerate([(2, 0), (1, 2)]):  # the second alert repeats one reading, adds an older one
        inputs = [ScoreInput(measure="hr", value=100.0 + m, unit="/min", effective_at=T0 + timedelta(minutes=m))
                  for m in minutes]
        # the same reading through two scores (SIRS and qSOFA both use it) is one vital sign
        scores = [*alert.scores, ScoreSnapshot(name="sirs", value=2, inputs=inputs),
                  ScoreSnapshot(name="qsofa", value=1, inputs=inputs[:1])]
        book.on_alert(alert.model_copy(update={"sequence": sequence, "alert_id": f"a{sequence}", "scores": scores}),
                      NOW)
    record = book.get(alert.episode_id)
    assert record is not None
    assert [(v.measure, v.value, v.unit) for v in record.vitals] == [("hr", 100.0, "/min"), ("hr", 101.0, "/min"),
                                                                      ("hr", 102.0, "/min")]
    many = [ScoreInput(measure="rr", value=float(i % 30), effective_at=T0 + timedelta(minutes=i)) for i in range(900)]
    book.on_alert(alert.model_copy(update={"sequence": 9, "alert_id": "a9", "scores": [
        ScoreSnapshot(name="news2", value=5, inputs=many)]}), NOW)
    kept = record.vitals
    assert len(kept) == MAX_VITALS and kept[-1].at_s == (T0 + timedelta(minutes=899)).timestamp()
    assert [v.at_s for v in kept] == sorted(v.at_s for v in kept)
    gc.collect()  # a stored reading is a tuple of plain values: the collector stops walking it
    assert not any(gc.is_tracked(key) or gc.is_tracked(value) for key, value in record.vital_values.items())
