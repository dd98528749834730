"""Id-only Subscription notifications: which resources to fetch, and the notification with them filled in (pure).

An `id-only` notification names the changed resources (the status's `focus`
references, and entries that carry a `fullUrl` but no `resource`) instead of
including them. The worker GETs them from the sender's FHIR server and then
handles the notification exactly like a `full-resource` one. This module holds
the decisions: the URL list (limited to configured base URLs, so a notification
cannot make the worker call an arbitrary host) and the merge of what was fetched.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ingest.core.errors import InputRejected
from ingest.core.fhir.bundle import SUPPORTED_RESOURCE_TYPES
from ingest.core.fhir.elements import as_dict, as_list, fhirpath, reference_id

__all__ = ["FetchTarget", "fetch_targets", "normalise_base_url", "with_fetched_resources"]


@dataclass(frozen=True, slots=True)
class FetchTarget:
    """One resource to GET: its absolute `url`, (type, id) from the URL, and where it was named (FHIRPath)."""

    url: str
    resource_type: str
    resource_id: str
    location: str


def normalise_base_url(base: str) -> str:
    """`https://ehr.example/fhir/` for `https://ehr.example/fhir` (scheme and host lower-cased, one trailing /)."""
    parts = urlsplit(base.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"not an http(s) base URL without query or fragment: {base!r}")
    path = parts.path.rstrip("/") + "/"
    return f"{parts.scheme}://{parts.netloc.lower()}{path}"


def _focus_references(status: dict[str, Any], where: str) -> list[tuple[str, str]]:
    """(reference, FHIRPath) of each notification event's focus, for the three status forms."""
    found: list[tuple[str, str]] = []
    if status.get("resourceType") == "Parameters":  # R4 backport
        for i, param in enumerate(as_list(status.get("parameter"))):
            p = as_dict(param)
            if p.get("name") != "notification-event":
                continue
            for j, part in enumerate(as_list(p.get("part"))):
                q = as_dict(part)
                ref = as_dict(q.get("valueReference")).get("reference")
                if q.get("name") == "focus" and isinstance(ref, str) and ref:
                    found.append((ref, fhirpath(where, "parameter", i, "part", j, "valueReference.reference")))
    else:  # R4B / R5 SubscriptionStatus
        for i, event in enumerate(as_list(status.get("notificationEvent"))):
            ref = as_dict(as_dict(event).get("focus")).get("reference")
            if isinstance(ref, str) and ref:
                found.append((ref, fhirpath(where, "notificationEvent", i, "focus.reference")))
    return found


def _absolute(reference: str, bases: tuple[str, ...], location: str) -> str:
    """The absolute URL of `reference` under one of `bases`; relative references resolve against the first."""
    ref = reference.split("#", 1)[0]
    if not bases:
        raise InputRejected(f"id-only notification names {reference!r} but no FHIR server to read it from is "
                            f"configured (fetch_base_urls)", location=location, code="fetch_not_configured")
    if "://" not in ref:
        return bases[0] + ref.lstrip("/")
    parts = urlsplit(ref)
    normalised = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}"
    if not any(normalised.startswith(base) for base in bases):
        raise InputRejected(f"reference {reference!r} is outside the FHIR servers this worker may read from",
                            location=location, code="fetch_not_allowed")
    return normalised


def fetch_targets(bundle: dict[str, Any], bases: tuple[str, ...], *, location: str = "Bundle") -> list[FetchTarget]:
    """Resources an event notification names without including them, as URLs under `bases` (normalised).

    Entries already carrying a resource are not fetched; references to resource
    types this service does not take are left out (they would only be skipped);
    urn: references cannot be fetched and are ignored. Raises InputRejected
    (`fetch_not_allowed`) for a reference outside `bases`: the sender must be told,
    and the notification dead-lettered, rather than the data silently dropped.
    """
    entries = as_list(bundle.get("entry"))
    if not entries:
        return []
    status = as_dict(as_dict(entries[0]).get("resource"))
    included = [as_dict(e) for e in entries[1:] if isinstance(as_dict(e).get("resource"), dict)]
    present = {e.get("fullUrl") for e in included}
    # A focus may name an included resource by a relative reference while its entry has an absolute fullUrl.
    present_ids = {(e["resource"].get("resourceType"), e["resource"].get("id")) for e in included}
    named = _focus_references(status, fhirpath(location, "entry", 0, "resource"))
    for i in range(1, len(entries)):
        entry = as_dict(entries[i])
        url = entry.get("fullUrl")
        if not isinstance(entry.get("resource"), dict) and isinstance(url, str) and url:
            named.append((url, fhirpath(location, "entry", i, "fullUrl")))
    targets: list[FetchTarget] = []
    seen: set[str] = set()
    for reference, where in named:
        if reference.startswith(("urn:", "#")) or reference in present:
            continue
        type_id = reference_id(reference)
        if type_id is None or type_id[0] not in SUPPORTED_RESOURCE_TYPES or type_id in present_ids:
            continue
        url = _absolute(reference, bases, where)
        if url in seen or url in present:
            continue
        seen.add(url)
        targets.append(FetchTarget(url, type_id[0], type_id[1], where))
    return targets


def with_fetched_resources(bundle: dict[str, Any], fetched: dict[str, dict[str, Any] | None],
                           targets: list[FetchTarget]) -> dict[str, Any]:
    """A copy of the notification with each fetched resource in an entry (as a full-resource notification).

    `fetched[url]` is the resource read from `url`, or None when the server said
    it is gone (404/410): nothing to ingest for it. A resource whose type or id
    does not match its URL is rejected (a misbehaving server must not attach data
    to the wrong record).
    """
    out = copy.deepcopy(bundle)
    entries: list[Any] = out.setdefault("entry", [])
    slot = {as_dict(e).get("fullUrl"): i for i, e in enumerate(entries) if i > 0}
    for target in targets:
        resource = fetched.get(target.url)
        if resource is None:
            continue
        if resource.get("resourceType") != target.resource_type or resource.get("id") != target.resource_id:
            raise InputRejected(
                f"the resource read from {target.url} is {resource.get('resourceType')!r}/{resource.get('id')!r}, "
                f"not {target.resource_type}/{target.resource_id}", location=target.location,
                code="fetch_mismatch")
        entry = {"fullUrl": target.url, "resource": resource,
                 "request": {"method": "GET", "url": f"{target.resource_type}/{target.resource_id}"},
                 "response": {"status": "200"}}
        if target.url in slot:
            entries[slot[target.url]] = entry
        else:
            entries.append(entry)
    return out
