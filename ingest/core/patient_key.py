"""Choosing the patient key from a message's identifiers (pure).

The HL7 v2 path (PID-3 repetitions: value, identifier type code, assigning
authority) and the FHIR path (Patient.identifier / Reference.identifier: system,
value, type code) must produce the SAME key for the same patient, so both go
through one policy. The key is the identifier's value, optionally prefixed with
its assigning authority / system alias when a site has several MRN namespaces.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from ingest.core.errors import MissingField

__all__ = ["Identifier", "PatientKeyPolicy", "choose_patient_key"]


@dataclass(frozen=True, slots=True)
class Identifier:
    """One patient identifier as either path sees it.

    `authority` is the HL7 assigning authority (CX-4.1) or the FHIR identifier system URI.
    `type_code` is the HL7 CX-5 / FHIR identifier.type.coding.code (MR, PI, PT, ...).
    """

    value: str
    type_code: str = ""
    authority: str = ""


class PatientKeyPolicy(BaseModel):
    """Which identifier becomes the patient key. Defaults take the MRN ("MR"), else the first one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    identifier_types: list[str] = Field(default_factory=lambda: ["MR", "MRN", "PI", "PT"],
                                        description="preferred identifier type codes, in order")
    authorities: dict[str, str] = Field(
        default_factory=dict,
        description="accepted assigning authorities / FHIR systems -> namespace alias. When non-empty, "
                    "only identifiers from these authorities are used, and an HL7 authority and a FHIR "
                    "system that name the same namespace should map to the same alias",
    )
    prefix_with_authority: bool = Field(default=False,
                                        description="key = '<alias>|<value>' instead of '<value>'")
    fallback_to_first: bool = Field(default=True,
                                    description="use the first identifier when none has a preferred type")


def choose_patient_key(identifiers: list[Identifier], policy: PatientKeyPolicy, *, location: str = "") -> str:
    """The patient key under `policy`; raises MissingField when no identifier qualifies."""
    candidates = [i for i in identifiers if i.value and i.value.strip()]
    if policy.authorities:
        candidates = [i for i in candidates if i.authority in policy.authorities]
    chosen: Identifier | None = None
    for wanted in policy.identifier_types:
        chosen = next((i for i in candidates if i.type_code.upper() == wanted.upper()), None)
        if chosen:
            break
    if chosen is None and policy.fallback_to_first and candidates:
        chosen = candidates[0]
    if chosen is None:
        raise MissingField("no usable patient identifier", location=location, code="missing_patient_id")
    value = chosen.value.strip()
    if policy.prefix_with_authority:
        alias = policy.authorities.get(chosen.authority, chosen.authority)
        return f"{alias}|{value}" if alias else value
    return value
