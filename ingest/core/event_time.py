"""The one plausibility check on event times shared by the HL7 v2 and FHIR paths (pure, no clock).

An event time far from the moment the message was received is a broken sender clock, a
typo in a century or a placeholder (`00010101`, `9999-12-31`), not a measurement. Scoring it
would pin or poison the detector's event-time windows (every later value would look out of
order, or an old value would reopen a closed window), so it is rejected and dead-lettered.

Both limits are relative to `received_at` (processing time, given by the caller):
* `max_future`: how far an event may lie *after* receipt (clock skew between the sender and us);
* `max_age`: how far it may lie *before* receipt (backfill / replay of old stays).

The age bound is about measurements. A patient's history (an Encounter of 1970 in a
transaction Bundle of the patient's record, an old medication administration) is
real and old; its normalisers catch `too_old` and skip the resource instead of
rejecting the whole request (ingest.core.fhir.patient, ingest.core.fhir.care).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.core.errors import InputRejected

__all__ = ["DEFAULT_EVENT_TIME_WINDOW", "EventTimeOutOfRange", "EventTimeWindow"]


class EventTimeOutOfRange(InputRejected):
    """An event time too far before or after the message's receipt; `too_old` when before the window."""

    code = "event_time_out_of_range"
    too_old = False


@dataclass(frozen=True, slots=True)
class EventTimeWindow:
    """Accepted event times: `received_at - max_age <= t <= received_at + max_future`."""

    max_future: timedelta
    max_age: timedelta

    def check(self, event_time: datetime, received_at: datetime, *, location: str) -> datetime:
        """Return `event_time` (aware) if it lies in the window around `received_at` (aware), else raise.

        Raises EventTimeOutOfRange naming `location` (e.g. `OBX[1]-14`, `Observation.effectiveDateTime`)
        and the bad value.
        """
        earliest = received_at - self.max_age
        latest = received_at + self.max_future
        if event_time > latest:
            raise EventTimeOutOfRange(
                f"event time {event_time.isoformat()} is more than {_span(self.max_future)} after receipt "
                f"({received_at.isoformat()})", location=location)
        if event_time < earliest:
            exc = EventTimeOutOfRange(
                f"event time {event_time.isoformat()} is more than {_span(self.max_age)} before receipt "
                f"({received_at.isoformat()})", location=location)
            exc.too_old = True
            raise exc
        return event_time


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:g} days"
    return f"{seconds:g} s"


DEFAULT_EVENT_TIME_WINDOW = EventTimeWindow(max_future=timedelta(hours=1), max_age=timedelta(days=3650))
"""The IngestSettings defaults (see their descriptions for why)."""
