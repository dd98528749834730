"""What is paged: the notifier's paging policy and routing replayed over a stay's alerts (pure, no I/O).

The detector's alerts of one stay go, in order, through `notifier.core.paging.decide_page` (the function the
running notifier calls, in the alerts' event time; nobody acknowledges in a replay) and, for each page, through
`notifier.core.routing.match_routes` of the shipped routing (which receivers it reaches). From that:

* the *paged* hourly series: a row counts as alerting from the row of an episode's first page until the row its
  episode resolves (what a paged responder sees as "this patient is flagged"); the challenge utility,
  sensitivity and lead time are computed on it exactly as for any rule (evaluation.metrics);
* every page with its row, level, reason, and whether it reached a PagerDuty receiver at once (the rapid-response
  pager under the shipped routing);
* pages per episode (episodes that paged at least once).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from notifier.core.escalation import EscalationPolicy
from notifier.core.paging import EpisodePaging, PageKind, PagingPolicy, decide_page
from notifier.core.routing import Route, match_routes
from schemas.alert import Alert, AlertTransition

__all__ = ["PageRecord", "PagingReplay", "StayPaging", "paged_figures", "paged_metrics"]


@dataclass(frozen=True, slots=True)
class PageRecord:
    row: int
    level: int
    reason: str
    pager: bool  # reached a pager receiver at once (tier 0)
    alert_id: str
    episode_id: str


@dataclass(slots=True)
class StayPaging:
    active: np.ndarray
    pages: list[PageRecord] = field(default_factory=list)
    pages_per_episode: list[int] = field(default_factory=list)
    decisions: Counter[str] = field(default_factory=Counter)


class PagingReplay:
    """The paging policy plus the routing tree of a notifier configuration, applied to one stay at a time."""

    def __init__(self, policy: PagingPolicy, route: Route, escalation_policies: Mapping[str, EscalationPolicy],
                 pager_receivers: Iterable[str]) -> None:
        self.policy = policy
        self.route = route
        self.escalation_policies = dict(escalation_policies)
        self.pager_receivers = frozenset(pager_receivers)

    def _reaches_pager(self, alert: Alert) -> bool:
        for target in match_routes(self.route, alert, PageKind.PAGE):
            receiver = (self.escalation_policies[target.escalation].tiers[0].receiver
                        if target.escalation is not None else target.receiver)
            if receiver in self.pager_receivers:
                return True
        return False

    def stay(self, alerts: Sequence[tuple[int, Alert]], n_rows: int) -> StayPaging:
        """`alerts`: (row, alert) in emission order. Returns the stay's paged series and pages."""
        result = StayPaging(active=np.zeros(n_rows, dtype=bool))
        states: dict[str, EpisodePaging] = {}
        first_page_row: dict[str, int] = {}
        count: Counter[str] = Counter()
        for row, alert in alerts:
            state, decision = decide_page(states.get(alert.episode_id), alert, self.policy, 0.0)
            states[alert.episode_id] = state
            result.decisions[f"{decision.kind.value}:{decision.reason.value}"] += 1
            if decision.kind == PageKind.PAGE:
                result.pages.append(PageRecord(row, int(alert.level), decision.reason.value,
                                               self._reaches_pager(alert), alert.alert_id, alert.episode_id))
                count[alert.episode_id] += 1
                first_page_row.setdefault(alert.episode_id, row)
            if alert.transition == AlertTransition.RESOLVED and alert.episode_id in first_page_row:
                start = first_page_row.pop(alert.episode_id)
                result.active[start:row] = True
        for start in first_page_row.values():  # still open at the end of the stay
            result.active[start:] = True
        result.pages_per_episode = list(count.values())
        return result


def paged_metrics(labels: Sequence[np.ndarray], stays: Sequence[StayPaging], utility: Mapping[str, object]
                  ) -> dict[str, object]:
    """The report's `paged` object from each stay's labels and paging (`utility`: evaluation.metrics output of
    the paged series: utility, sensitivity, median_lead_h, ...)."""
    from evaluation.metrics import CHALLENGE, onset_row

    rows = sum(len(label) for label in labels)
    patient_days = rows / 24.0
    pages = [p for s in stays for p in s.pages]
    on_time = 0
    for label, stay in zip(labels, stays, strict=True):
        if not stay.pages or not label.any():
            continue
        onset = onset_row(label)
        on_time += sum(1 for p in stay.pages if onset + CHALLENGE.dt_early <= p.row <= onset + CHALLENGE.dt_late)
    per_episode = np.asarray([n for s in stays for n in s.pages_per_episode] or [0])
    decisions: Counter[str] = Counter()
    for stay in stays:
        decisions.update(stay.decisions)
    return {
        "utility": utility["utility"],
        "sensitivity": utility["sensitivity"],
        "median_lead_h": utility["median_lead_h"],
        "pages": len(pages),
        "pages_per_patient_day": round(len(pages) / patient_days, 4) if patient_days else None,
        "patients_paged_share": round(sum(1 for s in stays if s.pages) / len(stays), 4) if stays else None,
        "episodes_paged": int(sum(len(s.pages_per_episode) for s in stays)),
        "pages_per_episode_p50": float(np.percentile(per_episode, 50)),
        "pages_per_episode_p95": float(np.percentile(per_episode, 95)),
        "pages_per_episode_max": int(per_episode.max()),
        "ppv_pages": round(on_time / len(pages), 4) if pages else None,
        "rrt_pages_per_patient_day": (round(sum(1 for p in pages if p.pager) / patient_days, 4)
                                      if patient_days else None),
        "pages_by_level": {str(level): n for level, n in sorted(Counter(p.level for p in pages).items())},
        "decisions": dict(sorted(decisions.items())),
        "active_hour_share": round(float(sum(int(s.active.sum()) for s in stays)) / rows, 4) if rows else None,
    }


def paged_figures(labels: Sequence[np.ndarray], stays: Sequence[StayPaging]
                  ) -> tuple[dict[str, object], tuple[float, ...]]:
    """`paged_metrics` with the utility, sensitivity and lead time of the paged series computed here, and the
    lead times (hours) of the septic stays paged in time."""
    from evaluation.metrics import Cohort

    m = Cohort(list(labels)).evaluate(np.concatenate([s.active for s in stays]), keep_lead_times=True)
    utility = {"utility": m.utility, "sensitivity": m.sensitivity, "median_lead_h": m.median_lead_h}
    return paged_metrics(labels, stays, utility), m.lead_times_h
