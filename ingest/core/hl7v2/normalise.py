"""One HL7 v2 message -> Normalised canonical events, or InputRejected (pure, no I/O, no clock).

    raw bytes --parse_message--> Message --by MSH-9--> ORU / ADT / orders normaliser --> Normalised

`received_at` (processing time) is passed in; every event time comes from the message.
"""

from __future__ import annotations

from datetime import datetime

from ingest.config import IngestSettings
from ingest.core.care_codes import CareCodeBook, load_care_codes
from ingest.core.errors import InputRejected, UnsupportedInput
from ingest.core.hl7v2.adt import ADT_EVENTS, normalise_adt
from ingest.core.hl7v2.context import MessageContext
from ingest.core.hl7v2.orders import normalise_orders
from ingest.core.hl7v2.oru import CodeCache, normalise_oru
from ingest.core.hl7v2.parser import Message, parse_message
from ingest.core.local_codes import LocalCodeMap, load_local_codes
from ingest.core.result import ClinicalEvent, Normalised, Skipped, number_parts

__all__ = ["ORDER_TYPES", "Hl7Normaliser"]

ORDER_TYPES = frozenset({("ORM", "O01"), ("OML", "O21"), ("RDE", "O11"), ("RAS", "O17")})


class Hl7Normaliser:
    """Normalises HL7 v2 messages under one site configuration (build once, reuse: it holds the code maps)."""

    def __init__(self, settings: IngestSettings, *, local_codes: LocalCodeMap | None = None,
                 care_codes: CareCodeBook | None = None) -> None:
        self.settings = settings
        self._zone = settings.zone()
        self._local = local_codes if local_codes is not None else load_local_codes(settings.local_codes)
        self._care = care_codes if care_codes is not None else load_care_codes(settings.care_codes)
        self._codes = CodeCache(self._local)
        self._key_memo: dict[tuple[str, ...], str] = {}
        self._time_window = settings.event_time_window()

    def normalise(self, raw: bytes, received_at: datetime) -> Normalised:
        """Parse and normalise one message received at `received_at` (aware, processing time).

        Raises InputRejected (ParseError, MissingField, UnknownUnitError, ImplausibleValueError,
        UnsupportedInput, ...) naming the segment/field when the message must be rejected; OBX refused
        on their own while the others stand are in `Normalised.rejected`.
        """
        return self.normalise_message(parse_message(raw), received_at)

    def normalise_message(self, message: Message, received_at: datetime) -> Normalised:
        """As `normalise`, for an already parsed message."""
        if received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
        code, trigger = message.message_code, message.trigger_event
        version = message.version
        if not version.startswith("2."):
            raise UnsupportedInput(f"HL7 version {version[:16]!r} is not supported (2.3 to 2.8)",
                                   location="MSH-12", code="unsupported_version")
        ctx = MessageContext.build(message, received_at, self._zone, self.settings.patient_key, self._key_memo,
                                   self._time_window)
        events: list[ClinicalEvent]
        skipped: list[Skipped] = []
        rejected: list[InputRejected] = []
        if code == "ORU":
            events, skipped, rejected = normalise_oru(ctx, self._codes)
        elif code == "ADT" and trigger in ADT_EVENTS:
            events = normalise_adt(ctx, trigger)
        elif (code, trigger) in ORDER_TYPES or (code in ("ORM", "OML", "RDE", "RAS") and not trigger):
            events, skipped = normalise_orders(ctx, self._care)
        else:
            label = f"{code}^{trigger}" if trigger else code or "(empty)"
            if self.settings.reject_unsupported_messages:
                raise UnsupportedInput(f"message type {label[:24]} is not used by this service",
                                       location="MSH-9", code="unsupported_message_type")
            skipped = [Skipped("MSH-9", "ignored_message_type", label[:24])]
            events = []
        return Normalised(message_id=ctx.control_id, message_type=f"{code}^{trigger}" if trigger else code,
                          events=number_parts(events), skipped=skipped, sender=ctx.sender, rejected=rejected)
