"""Feed gaps: 'stale: cannot rule out' for an open episode whose core vital signs stopped arriving (pure).

A scoring says 'cannot rule out' (charting.stale_vitals) only when something still arrives for the patient. When
the feed stops altogether nothing is scored, so the stream adapter sweeps the open episodes against its
event-time watermark (the newest event time it has read on the patient's partition): an episode whose heart
rate, respiratory rate or systolic BP is older than `timing.cannot_rule_out_hours` at the watermark gets one
`repeated` alert with the `cannot_rule_out` list, once per gap.

Once per gap: the episode remembers `stale_mark_s` (escalation.EscalationState), the limit below which vital
signs were already announced stale (announcement time minus the stale limit). A vital sign stale now whose
newest value is at or after the mark has arrived since, or was still current, at the last announcement: its gap
is new. Any alert carrying a 'cannot rule out' list sets the mark, so the sweep does not repeat what a scoring
announced.

The alert's event time is the moment the gap became stale (newest value + the limit), not the watermark: a sweep
after a large batch (a replay, a catch-up after a restart) then announces the same gap with the same time and
text as a sweep after every small live batch. It is never earlier than the episode's last alert.
"""

from __future__ import annotations

from dataclasses import replace

from detector.core.charting import CORE_VITALS, stale_vitals
from detector.core.escalation import EscalationState
from detector.core.patient import PatientState
from detector.core.window import MEASURE_INDEX

__all__ = ["announced", "gap_to_announce", "stale_mark"]

_SLOTS = tuple(MEASURE_INDEX[measure] for _, measure in CORE_VITALS)
_NEVER = -(2**31) + 1  # before any event time (int32 seconds since 2000), distinct from the state's None


def stale_mark(now_s: int, stale_after_s: int) -> int:
    """The mark of an announcement at `now_s`: every core vital sign older than this was announced stale."""
    return now_s - stale_after_s


def announced(episode: EscalationState, now_s: int, stale_after_s: int) -> EscalationState:
    """The episode after an alert at `now_s` that carried a 'cannot rule out' list (it announced the gap)."""
    return replace(episode, stale_mark_s=stale_mark(now_s, stale_after_s))


def gap_to_announce(state: PatientState, watermark_s: int, stale_after_s: int
                    ) -> tuple[int, tuple[str, ...], int] | None:
    """(event time, 'cannot rule out' reasons, new mark) of the gap the patient's open episode has not announced
    yet at `watermark_s`, or None (no episode, vital signs current, or the gap already announced)."""
    episode = state.escalation
    if episode.opened_s is None:
        return None
    window = state.window
    now_s = max(watermark_s, window.newest_s)
    limit = now_s - stale_after_s
    mark = episode.stale_mark_s
    since: int | None = None  # when the earliest gap not yet announced became stale
    for slot in _SLOTS:
        last = window.latest(slot, _NEVER, now_s)
        if last is not None and last[0] >= limit:
            continue  # current
        if last is None:
            if mark is not None:
                continue  # never recorded: said by the last announcement already
            start = episode.opened_s
        else:
            if mark is not None and last[0] < mark:
                continue  # stale with the same value at the last announcement
            start = last[0] + stale_after_s + 1  # first second with no value in the stale limit
        since = start if since is None else min(since, start)
    if since is None:
        return None
    event_s = max(since, episode.opened_s, episode.last_fired_s or episode.opened_s)
    return event_s, stale_vitals(window, event_s, stale_after_s), stale_mark(event_s, stale_after_s)
