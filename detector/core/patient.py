"""Everything the detector remembers about one patient (kept small: see state.py for the wire form)."""

from __future__ import annotations

from detector.core.config import SOFA_BASELINE_REACH_HOURS
from detector.core.escalation import EscalationState
from detector.core.infection import CareLog
from detector.core.risk.features import RiskContext
from detector.core.window import PatientWindow
from schemas.base import Location

__all__ = ["NO_CONTEXT", "NO_POSITION", "SOFA_RING_HOURS", "PatientState"]

SOFA_RING_HOURS = SOFA_BASELINE_REACH_HOURS + 1
"""Hourly worst SOFA totals kept for the baseline (§3.2): the 72 h before a 24 h window at most (the config
refuses more), plus the scoring hour itself, so that recording the current hour never overwrites an hour its
baseline reads (the baseline must not depend on whether it is read before or after that hour's first scoring,
or on a restart in between)."""

NO_POSITION = -1

_RING_VALUES = range(1, 256)  # what a SOFA ring slot can hold: 1 + a SOFA total (0 = no scoring that hour)

NO_CONTEXT = RiskContext()
"""Nothing known from an admission event (the risk features then use the window's first value time)."""


class PatientState:
    """One patient's window, care log, episode and bookkeeping.

    Times are event seconds since 2000-01-01 (window.event_seconds). `positions` holds, per input stream
    (observations, patient events, care events), the highest source offset already applied to this state,
    so that an adapter replaying input after a crash can skip what the state already reflects.
    """

    __slots__ = ("baseline_cache", "care", "context", "dirty", "encounter_id", "escalation", "last_anchor_s",
                 "location", "positions", "shock_sets", "sofa_hour", "sofa_ring", "weight_kg", "weight_s",
                 "window")

    def __init__(self) -> None:
        self.window = PatientWindow()
        self.care = CareLog()
        self.escalation = EscalationState()
        self.location: Location | None = None
        self.encounter_id: str | None = None
        # Age, sex and admission time from the admission / update PatientEvents: inputs of the learned risk
        # score that the window does not hold (serialised, so a restored detector scores the same).
        self.context = NO_CONTEXT
        self.weight_kg: float | None = None
        self.weight_s: int | None = None
        self.last_anchor_s: int | None = None
        self.dirty = False  # changed since the last scoring (a multi-part message not finished yet)
        self.sofa_ring = bytearray(SOFA_RING_HOURS)  # hour % 97 -> 1 + worst SOFA of that hour, 0 = none
        self.sofa_hour: int | None = None  # newest hour index (event seconds // 3600) written to the ring
        self.positions = [NO_POSITION, NO_POSITION, NO_POSITION]
        # Consecutive observation sets meeting the shock-index-with-hypotension trigger (its confirmation).
        self.shock_sets = 0
        # (hour, baseline): the baseline of an hour only reads older, final ring slots. Not serialised.
        self.baseline_cache: tuple[int, int] = (-1, 0)

    def record_sofa(self, now_s: int, total: int) -> None:
        """Remember the worst SOFA total of the event-time hour of `now_s` (scoring time never goes back)."""
        hour = now_s // 3600
        ring = self.sofa_ring
        last = self.sofa_hour
        if last is None or hour - last >= SOFA_RING_HOURS:
            ring[:] = bytes(SOFA_RING_HOURS)
        elif hour > last:
            for h in range(last + 1, hour + 1):
                ring[h % SOFA_RING_HOURS] = 0
        elif last - hour >= SOFA_RING_HOURS:
            return
        if last is None or hour > last:
            self.sofa_hour = hour
        slot = hour % SOFA_RING_HOURS
        if total + 1 > ring[slot]:
            ring[slot] = min(total + 1, 255)

    def sofa_baseline(self, now_s: int, window_hours: float, baseline_hours: float) -> int:
        """Lowest hourly SOFA in the `baseline_hours` before the current `window_hours` window, else 0 (§3.2)."""
        last = self.sofa_hour
        if last is None:
            return 0
        hour = now_s // 3600
        cached_hour, cached = self.baseline_cache
        if cached_hour == hour:
            return cached
        end = min(hour - int(window_hours), last + 1)  # exclusive
        start = max(hour - int(window_hours) - int(baseline_hours), last - SOFA_RING_HOURS + 1)
        baseline = 0
        if end > start:
            ring = self.sofa_ring
            a, b = start % SOFA_RING_HOURS, end % SOFA_RING_HOURS
            span = ring[a:b] if a < b else ring[a:] + ring[:b]
            # the lowest non-empty slot (0 = no scoring that hour): SOFA totals are small (at most 24), so
            # asking for 1, 2, ... in turn (each a memchr in C) ends after a few tries, cheaper than iterating
            # the whole span; a span of empty hours only is recognised first (strip, also in C)
            if span.strip(b"\x00"):
                for stored in _RING_VALUES:
                    if stored in span:
                        baseline = stored - 1
                        break
        self.baseline_cache = (hour, baseline)
        return baseline
