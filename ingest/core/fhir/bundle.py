"""Dispatch of single resources and Bundle entries to the normalisers; Subscription notifications (pure).

Validation policy (fhir.resources R4B, once per resource): a resource we turn into
events is validated before it is read; the Bundle envelope (type, entry.request,
entry.response, fullUrl) is validated without its resources; entries of types we
do not consume (Claim, Provenance, ...) and Observations / orders / drugs whose codes
we do not use are skipped and counted without validation, so a defect in data we ignore does
not cost the data we need. Observation invariant obs-6 is checked on every
Observation because it says the sender's value is unreliable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingest.core.errors import InputRejected, UnsupportedInput
from ingest.core.fhir.care import CARE_RESOURCE_TYPES, care_resource_is_relevant, normalise_care_resource
from ingest.core.fhir.context import BundleIndex, NormaliseContext
from ingest.core.fhir.elements import as_dict, as_list, fhirpath
from ingest.core.fhir.observation import (
    check_observation_invariants,
    normalise_observation,
    observation_is_relevant,
)
from ingest.core.fhir.patient import normalise_encounter, normalise_patient
from ingest.core.fhir.validation import validate_envelope, validate_resource
from ingest.core.result import ClinicalEvent, Skipped

__all__ = [
    "SUPPORTED_RESOURCE_TYPES",
    "EntryOutcome",
    "Notification",
    "normalise_entries",
    "normalise_resource",
    "read_notification",
]

SUPPORTED_RESOURCE_TYPES = ("Observation", "Patient", "Encounter", *CARE_RESOURCE_TYPES)
WRITE_METHODS = ("POST", "PUT")


@dataclass(slots=True)
class EntryOutcome:
    """What one Bundle entry gave: events and skips, or the reason it was rejected."""

    index: int
    location: str
    resource_type: str | None
    resource_id: str | None
    events: list[ClinicalEvent] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    error: InputRejected | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """A Subscription notification's status part.

    form: `r4-backport` (Parameters, Subscriptions Backport IG), `r4b` (SubscriptionStatus
    in a history Bundle) or `r5` (SubscriptionStatus in a subscription-notification Bundle).
    kind: handshake, heartbeat, event-notification, query-status or query-event.
    """

    form: str
    kind: str
    subscription: str
    topic: str
    events: int


def normalise_resource(resource: dict[str, Any], location: str,
                       ctx: NormaliseContext) -> tuple[list[ClinicalEvent], list[Skipped]]:
    """Events of one resource dict (validated here when we consume it); `location` is its FHIRPath."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise InputRejected("resourceType is missing", location=fhirpath(location, "resourceType"),
                            code="parse_error")
    if rtype == "Observation":
        check_observation_invariants(resource, location)
        if not observation_is_relevant(resource):
            return [], [Skipped(fhirpath(location, "code"), "unknown_code")]
        validate_resource(resource, rtype, location=location)
        events, skipped = normalise_observation(resource, location, ctx)
        return list(events), skipped
    if rtype not in SUPPORTED_RESOURCE_TYPES:
        if ctx.settings.reject_unsupported_messages:
            raise UnsupportedInput(f"{rtype} is not a resource this service takes",
                                   location=fhirpath(location, "resourceType"))
        return [], [Skipped(location, "unsupported_resource", rtype)]
    if rtype in CARE_RESOURCE_TYPES and not care_resource_is_relevant(resource, rtype, ctx):
        return [], [Skipped(location, "unknown_code", rtype)]
    validate_resource(resource, rtype, location=location)
    if rtype == "Patient":
        pe, skipped = normalise_patient(resource, location, ctx)
        return list(pe), skipped
    if rtype == "Encounter":
        pe, skipped = normalise_encounter(resource, location, ctx)
        return list(pe), skipped
    ce, skipped = normalise_care_resource(resource, rtype, location, ctx)
    return list(ce), skipped


def normalise_entries(bundle: dict[str, Any], ctx: NormaliseContext, *, location: str = "Bundle",
                      first: int = 0, writes_only: bool = False) -> list[EntryOutcome]:
    """Per-entry outcomes of a Bundle, from entry `first` on (all entries are indexed for references).

    With `writes_only` (transaction / batch at the HTTP endpoint) an entry whose
    request.method is not POST or PUT is rejected as not supported: this service
    receives data, it does not act as a FHIR server for reads and deletes.
    """
    entries = as_list(bundle.get("entry"))
    ctx.bundle = BundleIndex.build(entries)
    ctx.entry_base = fhirpath(location, "entry")
    outcomes: list[EntryOutcome] = []
    for i in range(first, len(entries)):
        entry = as_dict(entries[i])
        where = fhirpath(location, "entry", i)
        resource = entry.get("resource")
        rtype = as_dict(resource).get("resourceType")
        rid = as_dict(resource).get("id")
        out = EntryOutcome(i, where, rtype if isinstance(rtype, str) else None, rid if isinstance(rid, str) else None)
        outcomes.append(out)
        method = as_dict(entry.get("request")).get("method")
        if writes_only and method not in WRITE_METHODS:
            out.error = UnsupportedInput(f"request.method {method!r} is not supported (only POST and PUT)",
                                         location=fhirpath(where, "request.method"))
            continue
        if not isinstance(resource, dict):
            out.skipped.append(Skipped(where, "no_resource", str(method or "")))
            continue
        ctx.current_entry = i
        try:
            out.events, out.skipped = normalise_resource(resource, fhirpath(where, "resource"), ctx)
        except InputRejected as exc:
            out.error = exc
    return outcomes


def _param(parameters: list[Any], name: str) -> dict[str, Any]:
    return next((as_dict(p) for p in parameters if as_dict(p).get("name") == name), {})


def read_notification(bundle: dict[str, Any], *, location: str = "Bundle") -> Notification | None:
    """The status of a Subscription notification Bundle, or None when the Bundle is not one.

    R4 Backport: `history` Bundle whose first entry is a Parameters (subscription status).
    R4B: `history` Bundle whose first entry is a SubscriptionStatus. R5: Bundle type
    `subscription-notification`. The status resource is validated with fhir.resources.
    """
    btype = bundle.get("type")
    entries = as_list(bundle.get("entry"))
    first = as_dict(as_dict(entries[0]).get("resource")) if entries else {}
    rtype = first.get("resourceType")
    where = fhirpath(location, "entry", 0, "resource")
    if btype not in ("history", "subscription-notification") or rtype not in ("Parameters", "SubscriptionStatus"):
        if btype == "subscription-notification":
            raise InputRejected("a subscription-notification Bundle must start with a SubscriptionStatus",
                                location=where, code="invalid_notification")
        return None
    if rtype == "Parameters":
        validate_resource(first, "Parameters", location=where)
        params = as_list(first.get("parameter"))
        kind = _param(params, "type").get("valueCode")
        subscription = as_dict(_param(params, "subscription").get("valueReference")).get("reference", "")
        topic = _param(params, "topic").get("valueCanonical", "")
        events = sum(1 for p in params if as_dict(p).get("name") == "notification-event")
        form = "r4-backport"
    else:
        validate_resource(first, "SubscriptionStatus", location=where,
                          release="R5" if btype == "subscription-notification" else "R4B")
        kind = first.get("type")
        subscription = as_dict(first.get("subscription")).get("reference", "")
        topic = first.get("topic", "")
        events = len(as_list(first.get("notificationEvent")))
        form = "r5" if btype == "subscription-notification" else "r4b"
    if kind not in ("handshake", "heartbeat", "event-notification", "query-status", "query-event"):
        raise InputRejected(f"unknown notification type {kind!r}", location=where, code="invalid_notification")
    return Notification(form, kind, str(subscription or ""), str(topic or ""), events)


def check_envelope(bundle: dict[str, Any], *, location: str = "Bundle") -> None:
    """Validate the Bundle without its entries' resources (those are validated one by one when consumed)."""
    validate_envelope(bundle, location=location)
