"""What normalising one inbound message yields, shared by the HL7 v2 and FHIR paths."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.core.errors import InputRejected
from schemas.care_event import CareEvent
from schemas.observation import Observation
from schemas.patient_event import PatientEvent

__all__ = ["ClinicalEvent", "Normalised", "Skipped", "number_parts"]

ClinicalEvent = Observation | PatientEvent | CareEvent


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something in the message we deliberately did not turn into an event (counted, not rejected).

    `reason` is a short machine-readable label used as a metric label:
    unknown_code, data_absent, non_numeric, ignored_message_type, ...
    """

    location: str
    reason: str
    detail: str = ""


@dataclass(slots=True)
class Normalised:
    """The canonical events of one accepted message, plus what was skipped.

    A message that must be rejected raises ingest.core.errors.InputRejected instead.
    `rejected` holds the errors of single observations refused while the rest of the
    message was accepted (HL7 v2 ORU, ingest.core.hl7v2.oru): the caller stores the
    events, dead-letters the message with these errors and reports each one.
    """

    message_id: str
    message_type: str
    events: list[ClinicalEvent] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    sender: str = ""
    rejected: list[InputRejected] = field(default_factory=list)

    @property
    def observations(self) -> list[Observation]:
        return [e for e in self.events if isinstance(e, Observation)]


def number_parts(events: list[ClinicalEvent]) -> list[ClinicalEvent]:
    """Set `part`/`parts` on each patient's observations of one message, in message order (in place).

    The detector scores a patient once per message, after the observation whose
    part is parts-1, so scoring does not depend on Kafka batch boundaries.
    """
    counts: dict[str, int] = {}
    for e in events:
        if isinstance(e, Observation):
            counts[e.patient_key] = counts.get(e.patient_key, 0) + 1
    seen: dict[str, int] = {}
    for e in events:
        if isinstance(e, Observation):
            i = seen.get(e.patient_key, 0)
            seen[e.patient_key] = i + 1
            # The events were built by the caller's normaliser and are not shared yet, so setting the
            # two numbering fields in place is safe; model_copy() cost ~15% of HL7 normalisation time.
            # The values are valid by construction (0 <= i < count).
            object.__setattr__(e, "part", i)
            object.__setattr__(e, "parts", counts[e.patient_key])
    return list(events)
