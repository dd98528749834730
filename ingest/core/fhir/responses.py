"""FHIR response resources built by the HTTP adapter (pure): OperationOutcome, response Bundles,
CapabilityStatement, and the HTTP status for each kind of rejection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ingest.core.errors import InputRejected
from ingest.core.fhir.validation import FHIR_MODEL_SET, FhirValidationError

__all__ = [
    "capability_statement",
    "created_location",
    "http_status_for",
    "issue",
    "operation_outcome",
    "outcome_for_rejection",
    "response_bundle",
]

# InputRejected.code -> FHIR IssueType (http://hl7.org/fhir/valueset-issue-type.html)
_ISSUE_TYPE: dict[str, str] = {
    "parse_error": "structure",
    "invalid_resource": "structure",
    "unknown_resource_type": "not-supported",
    "unsupported": "not-supported",
    "missing_field": "required",
    "missing_required": "required",
    "missing_patient_id": "required",
    "missing_time": "required",
    "unknown_unit": "value",
    "implausible_value": "value",
    "invalid_value": "value",
    "invariant_violation": "invariant",
    "invalid_notification": "invalid",
}
# Structural defects (including a missing element the base specification requires) are 400 Bad Request;
# well-formed FHIR that breaks our rules is 422.
_BAD_REQUEST = frozenset({"parse_error", "invalid_resource", "unknown_resource_type", "missing_required"})


def issue(severity: str, code: str, diagnostics: str, expression: str | None = None) -> dict[str, Any]:
    """One OperationOutcome.issue; `expression` is the FHIRPath of the element concerned."""
    out: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics[:2000]}
    if expression:
        out["expression"] = [expression]
    return out


def operation_outcome(issues: list[dict[str, Any]]) -> dict[str, Any]:
    """An OperationOutcome resource (R4) holding `issues` (at least one)."""
    return {"resourceType": "OperationOutcome", "issue": issues or [issue("information", "informational", "ok")]}


def _issues_for(exc: InputRejected) -> list[dict[str, Any]]:
    kind = _ISSUE_TYPE.get(exc.code, "invalid")
    if isinstance(exc, FhirValidationError):
        return [issue("error", kind, f"{exc.code}: {msg}", path) for path, msg in exc.issues]
    return [issue("error", kind, f"{exc.code}: {exc.message}", exc.location or None)]


def outcome_for_rejection(*errors: InputRejected) -> dict[str, Any]:
    """OperationOutcome with one error issue per rejected element (severity, code, diagnostics, expression)."""
    return operation_outcome([i for exc in errors for i in _issues_for(exc)])


def http_status_for(*errors: InputRejected) -> int:
    """400 when any error is structural (not JSON, not valid FHIR), else 422."""
    return 400 if any(e.code in _BAD_REQUEST for e in errors) else 422


def created_location(resource: dict[str, Any], message_id: str) -> str:
    """`<type>/<id>/_history/<vid>` for a 201's Location: the sender's id and meta.versionId when given (events
    are keyed on them), else the id this service gave the content (its digest) and version 1."""
    rtype = str(resource.get("resourceType"))
    rid = resource.get("id")
    if not (isinstance(rid, str) and rid):
        rid = message_id.removeprefix("sha256:")
    meta = resource.get("meta")
    vid = meta.get("versionId") if isinstance(meta, dict) else None
    return f"{rtype}/{rid}/_history/{vid if isinstance(vid, str) and vid else '1'}"


def response_bundle(bundle_type: str, entries: list[dict[str, Any]], *, timestamp: datetime) -> dict[str, Any]:
    """A `batch-response` / `transaction-response` Bundle; each entry is {"response": {...}}."""
    return {"resourceType": "Bundle", "type": bundle_type, "timestamp": timestamp.isoformat(), "entry": entries}


def entry_response(status: str, *, outcome: dict[str, Any] | None = None,
                   location: str | None = None) -> dict[str, Any]:
    """One Bundle.entry.response (status like '201 Created', optional OperationOutcome)."""
    response: dict[str, Any] = {"status": status}
    if location:
        response["location"] = location
    if outcome is not None:
        response["outcome"] = outcome
    return {"response": response}


def capability_statement(base_path: str, *, software_version: str, date: str,
                         supported_types: tuple[str, ...], auth_required: bool) -> dict[str, Any]:
    """What this endpoint accepts, exactly: create-only for the consumed types, batch / transaction,
    Subscription notifications at `$subscription-notification`; no reads, searches or history."""
    resources = []
    for rtype in supported_types:
        direct = rtype in ("Observation", "Patient", "Encounter")
        resources.append({
            "type": rtype,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{rtype}",
            "documentation": ("accepted with POST [base]/" + rtype if direct else
                              "accepted inside batch / transaction Bundles and notifications only"),
            "interaction": [{"code": "create"}] if direct else [],
        })
    security: dict[str, Any] = {
        "cors": False,
        "description": ("Bearer token required (Authorization: Bearer <token>); 401 without or with an "
                        "unknown token, 403 for a metadata-only token." if auth_required
                        else "DEVELOPMENT MODE: no authentication."),
    }
    if auth_required:
        security["service"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                            "code": "OAuth", "display": "OAuth"}],
                                "text": "static bearer tokens"}]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "application/json"],
        "software": {"name": "sepsis-alert ingest-fhir", "version": software_version},
        "implementation": {
            "description": (f"Receive-only FHIR R4 endpoint of the sepsis alert service. Validation: "
                            f"{FHIR_MODEL_SET}. Data is acknowledged only after Kafka stored it "
                            f"(503 + Retry-After otherwise). A 201 carries a Location naming the "
                            f"resource version as recorded, but resources are not readable back."),
            "url": base_path,
        },
        "rest": [{
            "mode": "server",
            "documentation": ("POST [base] takes Bundles of type batch or transaction (POST / PUT entries only). "
                              "POST [base]/$subscription-notification takes Subscription notifications: R4 "
                              "Subscriptions Backport (history Bundle, Parameters status), R4B (SubscriptionStatus) "
                              "and R5 (subscription-notification Bundle); handshake and heartbeat are acknowledged "
                              "without events; for id-only notifications the named resources are read from the "
                              "configured FHIR servers (fetch_base_urls) before the answer, else rejected with 422."),
            "security": security,
            "resource": resources,
            "interaction": [{"code": "batch"}, {"code": "transaction"}],
            "operation": [{"name": "subscription-notification",
                           "definition": f"{base_path}/OperationDefinition/subscription-notification",
                           "documentation": "receiver endpoint for Subscription notifications (rest-hook)"}],
        }],
    }
