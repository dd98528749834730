"""Validation of FHIR resources with fhir.resources (the design card's FHIR library), R4B model set.

Why R4B: fhir.resources 8.x ships R5 (default package), R4B (`fhir.resources.R4B`)
and STU3, but no plain R4. R4B (4.3.0) keeps R4's Observation, Patient, Encounter,
ServiceRequest, MedicationRequest, MedicationAdministration, Parameters and Bundle
shapes unchanged and adds SubscriptionStatus (topic-based notifications), so R4
documents validate as R4B; R5 renamed/reshaped several of them (e.g.
MedicationRequest.medication, Encounter.class), which would reject valid R4 input.

Each consumed resource is validated exactly once, from the dict parsed by orjson;
the normaliser then reads the same dict (no re-serialisation, no second parse).
fhir.resources checks types, cardinality, required elements, code patterns and
choice-type exclusivity; it does not run FHIRPath invariants, so the few we
rely on (obs-6) are checked in observation.py.
"""

from __future__ import annotations

from typing import Any

from fhir.resources import get_fhir_model_class as get_r5_model_class
from fhir.resources.R4B import get_fhir_model_class
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import ValidationError

from ingest.core.errors import InputRejected
from ingest.core.fhir.elements import fhirpath

__all__ = ["FHIR_MODEL_SET", "FhirValidationError", "validate_envelope", "validate_resource"]

FHIR_MODEL_SET = "fhir.resources R4B (FHIR 4.3.0, R4-compatible for the resources we consume)"

_MODELS: dict[tuple[str, str], type[FHIRAbstractModel]] = {}
_MAX_ISSUES = 10


class FhirValidationError(InputRejected):
    """fhir.resources rejected a resource; `issues` lists (FHIRPath, message) for each bad element."""

    code = "invalid_resource"

    def __init__(self, message: str, *, location: str, issues: list[tuple[str, str]]) -> None:
        super().__init__(message, location=location)
        self.issues = issues


def model_class(resource_type: str, *, location: str, release: str = "R4B") -> type[FHIRAbstractModel]:
    """The model class for `resource_type` (R4B; R5 only for R5 notification status); rejects unknown names."""
    cls = _MODELS.get((release, resource_type))
    if cls is None:
        lookup = get_r5_model_class if release == "R5" else get_fhir_model_class
        try:
            cls = lookup(resource_type)
        except (KeyError, ValueError, ImportError, AttributeError) as exc:
            raise InputRejected(f"unknown FHIR resourceType {resource_type!r}", location=location,
                                code="unknown_resource_type") from exc
        _MODELS[(release, resource_type)] = cls
    return cls


def _loc_to_fhirpath(base: str, loc: tuple[int | str, ...]) -> str:
    parts: list[str | int] = []
    for step in loc:
        if step in ("root", "__root__") or (isinstance(step, str) and step.startswith("function-")):
            continue  # pydantic wrapper steps, not FHIR elements
        parts.append(step)
    return fhirpath(base, *parts)


def validate_resource(resource: dict[str, Any], resource_type: str, *, location: str,
                      release: str = "R4B") -> FHIRAbstractModel:
    """Validate one resource dict with its fhir.resources R4B model; returns the model.

    Raises FhirValidationError naming each bad element by FHIRPath under `location`
    (e.g. `Bundle.entry[3].resource.valueQuantity.value`) with the bad value.
    """
    cls = model_class(resource_type, location=fhirpath(location, "resourceType"), release=release)
    try:
        return cls.model_validate(resource)
    except ValidationError as exc:
        raise _rejection(exc, resource_type, location) from None


def validate_envelope(bundle: dict[str, Any], *, location: str = "Bundle") -> None:
    """Validate a Bundle's own elements (type, entry.fullUrl/request/response) without the entries' resources."""
    entries = bundle.get("entry")
    shell = dict(bundle)
    if isinstance(entries, list):
        shell["entry"] = [{k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
                          for e in entries]
    validate_resource(shell, "Bundle", location=location)


def _rejection(exc: ValidationError, resource_type: str, location: str) -> FhirValidationError:
    issues: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False)[:_MAX_ISSUES]:
        path = _loc_to_fhirpath(location, tuple(err.get("loc", ())))
        shown = repr(err.get("input"))
        if len(shown) > 60:
            shown = shown[:57] + "..."
        msg = " ".join(str(err.get("msg", "invalid")).split())
        issues.append((path, f"{msg} (got {shown})"))
    if not issues:
        issues.append((location, "invalid resource"))
    summary = "; ".join(f"{p}: {m}" for p, m in issues[:3])
    more = exc.error_count() - 3
    if more > 0:
        summary += f"; and {more} more"
    return FhirValidationError(f"{resource_type} is not valid FHIR R4: {summary}",
                               location=issues[0][0], issues=issues)
