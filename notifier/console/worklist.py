"""The worklist and the episode page, built from the console's episode book (pure: `now_s` is passed in).

What a row shows follows the console's PHI policy (notifier.core.phi): unit and bed, never a name; "location
unknown" when the alert carries none, "location withheld" when the policy hides it. Risk is written the way a
clinician reads it ("high, 14 % (×4 baseline)"), the baseline being the rate of sepsis hours the model was
trained on (a setting, see docs/console.md). Reasons are the alert's own words, not restated thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from markupsafe import Markup

from notifier.console.history import RISK_SCORE, AlertPoint, EpisodeRecord, NotificationRecord, VitalPoint
from notifier.console.plots import ReferenceLine, line_plot, sparkline
from notifier.core.model import CLOSE_REASONS, AckEvent
from notifier.core.phi import LEVEL_NAMES, PhiPolicy, build_view, clean_text, clip
from schemas.alert import AlertLevel

__all__ = ["ActionLine", "EpisodePage", "RiskBands", "WorklistRow", "ago", "build_episode", "build_worklist",
           "describe_action", "risk_text"]

TREND_HOURS = 6.0
"""Event-time hours of risk history drawn in a row's sparkline."""
VITAL_PLOTS: dict[str, tuple[str, str, tuple[ReferenceLine, ...]]] = {
    # Keys are the detector's score-input names (ScoreInput.measure).
    # Reference lines are the SIRS / qSOFA criteria of ../shared/docs/clinical-scores.md §2.1-2.2 (drawn only:
    # the detector, not the console, decides what they mean for the patient).
    "hr": ("Heart rate", "/min", (ReferenceLine(90, "SIRS >90"),)),
    "rr": ("Respiratory rate", "/min", (ReferenceLine(20, "SIRS >20"), ReferenceLine(22, "qSOFA ≥22"))),
    "temp_c": ("Temperature", "°C", (ReferenceLine(38.0, "SIRS >38"), ReferenceLine(36.0, "SIRS <36"))),
    "sbp": ("Systolic BP", "mmHg", (ReferenceLine(100, "qSOFA ≤100"),)),
    "spo2": ("SpO₂", "%", ()),
    "lactate": ("Lactate", "mmol/L", (ReferenceLine(2.0, "2"), ReferenceLine(4.0, "4"))),
    "wbc": ("White cells", "×10⁹/L", (ReferenceLine(12.0, "SIRS >12"), ReferenceLine(4.0, "SIRS <4"))),
    "creatinine": ("Creatinine", "mg/dL", ()),
    "platelets": ("Platelets", "×10⁹/L", ()),
}


@dataclass(frozen=True)
class RiskBands:
    """How a learned risk is worded: the training baseline and the cut-offs of "raised" and "high"."""

    baseline: float = 0.02
    raised: float = 0.03
    high: float = 0.05


def risk_text(risk: float | None, bands: RiskBands) -> str:
    """`high, 14 % (×4 baseline)`; `no risk score` when the model is not served."""
    if risk is None:
        return "no risk score"
    word = "high" if risk >= bands.high else "raised" if risk >= bands.raised else "low"
    percent = risk * 100
    shown = f"{percent:.0f}" if percent >= 10 else f"{percent:.1f}"
    multiple = risk / bands.baseline if bands.baseline > 0 else 0.0
    times = f"{multiple:.0f}" if multiple >= 2 else f"{multiple:.1f}"
    return f"{word}, {shown} % (×{times} baseline)"


def ago(seconds: float | None) -> str:
    """`4 min`, `2 h 5 min`, `3 d 4 h`; an em dash when there is nothing to count from."""
    if seconds is None:
        return "—"
    minutes = int(max(0.0, seconds) // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def describe_action(action: AckEvent, now_s: float) -> str:
    """One line: `acknowledged by dr.lee`, `snoozed by rn.kim until worse (max 3 h 58 min)`, `closed: not sepsis`."""
    kind = action.effective_action()
    who = clean_text(action.acked_by)
    if kind == "snooze":
        left = ago((action.snooze_until_s or now_s) - now_s)
        return f"snoozed by {who} until worse (at most {left} more)"
    if kind == "close":
        why = CLOSE_REASONS.get(action.reason or "", "closed")
        return f"closed by {who}: {why}"
    if kind == "comment":
        return f"comment by {who}"
    return f"acknowledged by {who}"


@dataclass(frozen=True)
class WorklistRow:
    episode_id: str
    location: str
    level: int
    level_name: str
    risk: float | None
    risk_text: str
    trend: Markup
    reasons: tuple[str, ...]
    opened_ago: str
    last_page_ago: str
    ack: str
    """Empty when nobody has acknowledged it (the row then says so, highlighted)."""
    markers: tuple[str, ...]
    opened_at_s: float


def _reasons(record: EpisodeRecord, policy: PhiPolicy) -> tuple[str, ...]:
    """The alert's top reasons (classic triggers), the last place going to the model's explanation when the
    learned score is served, within the policy's count."""
    model = next((s for s in record.latest.scores if s.name == RISK_SCORE and s.reason), None)
    if (model is None or "reasons" not in policy.allow or policy.max_reasons == 0
            or any(model.reason in reason for reason in record.latest.reasons)):  # the detector already says it
        return build_view(record.latest, policy, None).reasons
    fewer = policy.model_copy(update={"max_reasons": policy.max_reasons - 1})
    return (*build_view(record.latest, fewer, None).reasons, clip(clean_text(f"model: {model.reason}"), 200))


def _markers(record: EpisodeRecord, policy: PhiPolicy) -> tuple[str, ...]:
    markers: list[str] = []
    if record.latest.treatment_started and "treatment_started" in policy.allow:
        markers.append("antibiotics started")
    if record.latest.cannot_rule_out:
        markers.append("stale — cannot rule out")
    return tuple(markers)


def _row(record: EpisodeRecord, now_s: float, policy: PhiPolicy, bands: RiskBands) -> WorklistRow:
    view = build_view(record.latest, policy, None)
    level = int(record.latest.level)
    latest_event = record.points[-1].event_at_s if record.points else 0.0
    trend = [(p.event_at_s, p.risk) for p in record.points
             if p.risk is not None and p.event_at_s >= latest_event - TREND_HOURS * 3600]
    standing = record.standing_action
    return WorklistRow(
        episode_id=record.episode_id, location=view.location, level=level,
        level_name=LEVEL_NAMES.get(AlertLevel(level), str(level)), risk=record.risk,
        risk_text=risk_text(record.risk, bands),
        trend=sparkline([(t, r) for t, r in trend if r is not None], label=f"risk over the last {TREND_HOURS:g} h"),
        reasons=_reasons(record, policy), opened_ago=ago(now_s - record.first_seen_at_s),
        last_page_ago=ago(now_s - record.last_page_at_s) if record.last_page_at_s is not None else "not paged",
        ack=describe_action(standing, now_s) if standing is not None else "", markers=_markers(record, policy),
        opened_at_s=record.first_seen_at_s)


def build_worklist(records: Iterable[EpisodeRecord], now_s: float, policy: PhiPolicy,
                   bands: RiskBands) -> list[WorklistRow]:
    """One row per open episode, most urgent first: level, then risk, then the longest open."""
    rows = [_row(r, now_s, policy, bands) for r in records if r.is_open]
    return sorted(rows, key=lambda r: (-r.level, -(r.risk or 0.0), r.opened_at_s, r.episode_id))


@dataclass(frozen=True)
class ActionLine:
    at_s: float
    text: str
    comment: str


@dataclass(frozen=True)
class EpisodePage:
    row: WorklistRow
    is_open: bool
    status: str
    plots: tuple[Markup, ...]
    points: tuple[AlertPoint, ...]
    notifications: tuple[NotificationRecord, ...]
    actions: tuple[ActionLine, ...]
    scores: tuple[tuple[str, str, str], ...]
    """(name, value, band) of the latest transition, within the PHI policy."""


def _vital_plots(vitals: Iterable[VitalPoint]) -> list[Markup]:
    by_measure: dict[str, list[VitalPoint]] = {}
    for vital in vitals:
        by_measure.setdefault(vital.measure, []).append(vital)
    plots = []
    for measure, (title, unit, references) in VITAL_PLOTS.items():
        series = by_measure.get(measure)
        if series:
            plots.append(line_plot(title, [(v.at_s, v.value) for v in series], references,
                                   unit=unit))
    return plots


def build_episode(record: EpisodeRecord, now_s: float, policy: PhiPolicy, bands: RiskBands) -> EpisodePage:
    """The episode page: the row, plots of risk, level and the vitals and labs the alerts carried, the timeline
    of transitions, every notification and every action. Scores and vitals only when the policy allows scores."""
    row = _row(record, now_s, policy, bands)
    allow_scores = "scores" in policy.allow
    plots: list[Markup] = []
    risk = [(p.event_at_s, p.risk) for p in record.points if p.risk is not None]
    if allow_scores and risk:
        refs = (ReferenceLine(bands.high * 100, "high"), ReferenceLine(bands.raised * 100, "raised"),
                ReferenceLine(bands.baseline * 100, "baseline"))
        plots.append(line_plot("Learned risk", [(t, r * 100) for t, r in risk if r is not None], refs, unit="%"))
    if "level" in policy.allow:
        plots.append(line_plot("Alert level", [(p.event_at_s, float(p.level)) for p in record.points],
                               (ReferenceLine(3, "pages from 3"),), step=True))
    if allow_scores:
        news2 = [(p.event_at_s, float(v)) for p in record.points for n, v, _ in p.scores
                 if n == "news2" and isinstance(v, int | float) and not isinstance(v, bool)]
        plots.append(line_plot("NEWS2", news2, (ReferenceLine(5, "5"), ReferenceLine(7, "7"))))
        plots.extend(_vital_plots(record.vitals))
    view = build_view(record.latest, policy, None)
    scores = tuple((s.name, s.value, s.band or "") for s in view.scores)
    actions = tuple(ActionLine(a.acked_at_s, describe_action(a, now_s), clean_text(a.comment or ""))
                    for a in record.actions)
    status = ("resolved by the detector" if record.resolved_at_s is not None
              else describe_action(record.closed, now_s) if record.closed is not None else "open")
    notifications = tuple(sorted(record.notifications.values(), key=lambda n: n.sent_at_s))
    return EpisodePage(row=row, is_open=record.is_open, status=status, plots=tuple(p for p in plots if p),
                       points=tuple(record.points) if allow_scores or "level" in policy.allow else (),
                       notifications=notifications, actions=actions, scores=scores)
