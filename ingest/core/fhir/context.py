"""What every FHIR resource normaliser needs: settings, times, code book, and subject resolution.

Patient key mapping (the same policy as HL7 v2 PID-3, ingest.core.patient_key):
1. `subject` resolving to a Patient (contained `#id`, a Bundle entry by fullUrl /
   `urn:uuid:` / `Patient/id`): that Patient's identifiers (system = authority,
   type.coding.code = type code, e.g. MR), then the reference's own `identifier`.
2. `subject.identifier` alone (logical reference by identifier): that identifier.
3. A bare `Patient/123` (or absolute `https://ehr/fhir/Patient/123`) that does not
   resolve inside the document: the logical id `123` as an identifier value with
   authority `Patient` and no type code. Under the default policy this gives key
   `123`; a site whose logical ids are not MRNs lists its MRN systems in
   `patient_key.authorities`, and bare references are then rejected with
   `missing_patient_id` instead of creating a second key for the same person.
A `urn:uuid:` reference that does not resolve is rejected (it names nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ingest.config import IngestSettings
from ingest.core.care_codes import CareCodeBook, load_care_codes
from ingest.core.errors import MissingField
from ingest.core.event_time import EventTimeWindow
from ingest.core.fhir.elements import as_dict, as_list, codings, fhirpath, reference_id
from ingest.core.fhir.validation import validate_resource
from ingest.core.patient_key import Identifier, choose_patient_key

__all__ = ["LOGICAL_ID_AUTHORITY", "BundleIndex", "NonPatientSubject", "NormaliseContext"]

LOGICAL_ID_AUTHORITY = "Patient"


class NonPatientSubject(Exception):
    """The subject is not a Patient (Group, Device, Location): the resource is skipped, not rejected."""

    def __init__(self, reference: str) -> None:
        super().__init__(reference)
        self.reference = reference


@lru_cache(maxsize=8)
def _care_book(path: Path | None) -> CareCodeBook:
    return load_care_codes(path)


@dataclass
class BundleIndex:
    """Entries of one Bundle by fullUrl and by `Type/id`, for resolving references inside it."""

    by_url: dict[str, int] = field(default_factory=dict)
    by_type_id: dict[str, int] = field(default_factory=dict)
    resources: list[dict[str, Any] | None] = field(default_factory=list)
    report_time: dict[int, tuple[Any, str]] = field(default_factory=dict)
    """Observation entry -> (time value, FHIRPath) inherited from the report / panel grouping it."""

    @classmethod
    def build(cls, entries: list[Any]) -> BundleIndex:
        index = cls()
        for i, entry in enumerate(entries):
            entry_d = as_dict(entry)
            resource = entry_d.get("resource") if isinstance(entry_d.get("resource"), dict) else None
            index.resources.append(resource)
            url = entry_d.get("fullUrl")
            if isinstance(url, str):
                index.by_url[url] = i
            if resource and isinstance(resource.get("id"), str) and isinstance(resource.get("resourceType"), str):
                index.by_type_id.setdefault(f"{resource['resourceType']}/{resource['id']}", i)
        index._inherit_times()
        return index

    def find(self, reference: str) -> int | None:
        """Entry index a literal reference points at, or None."""
        if reference in self.by_url:
            return self.by_url[reference]
        type_id = reference_id(reference)
        return self.by_type_id.get(f"{type_id[0]}/{type_id[1]}") if type_id else None

    def _inherit_times(self) -> None:
        # A result without a time of its own was taken at the clinically relevant time of the
        # DiagnosticReport (result[]) or panel Observation (hasMember[]) that groups it.
        own: dict[int, tuple[Any, str]] = {}
        children: dict[int, list[int]] = {}
        for i, resource in enumerate(self.resources):
            rtype = resource.get("resourceType") if resource else None
            if rtype not in ("DiagnosticReport", "Observation"):
                continue
            assert resource is not None
            when = _own_time(resource, f"Bundle.entry[{i}].resource")
            if when is not None:
                own[i] = when
            refs = resource.get("result") if rtype == "DiagnosticReport" else resource.get("hasMember")
            found = [self.find(str(as_dict(r).get("reference") or "")) for r in as_list(refs)]
            children[i] = [k for k in found if k is not None and k != i]
        for _ in range(3):  # report -> panel -> result is two levels; bounded against cycles
            changed = False
            for parent, kids in children.items():
                when = own.get(parent) or self.report_time.get(parent)
                for kid in kids:
                    if when is not None and kid not in self.report_time:
                        self.report_time[kid] = when
                        changed = True
            if not changed:
                break


def _own_time(resource: dict[str, Any], where: str) -> tuple[Any, str] | None:
    if resource.get("effectiveDateTime") is not None:
        return resource["effectiveDateTime"], f"{where}.effectiveDateTime"
    if as_dict(resource.get("effectivePeriod")).get("start") is not None:
        return resource["effectivePeriod"]["start"], f"{where}.effectivePeriod.start"
    if resource.get("effectiveInstant") is not None:
        return resource["effectiveInstant"], f"{where}.effectiveInstant"
    if resource.get("issued") is not None:
        return resource["issued"], f"{where}.issued"
    return None


@dataclass
class NormaliseContext:
    """Inputs shared by the resource normalisers of one document (no clock: `received_at` is given)."""

    settings: IngestSettings
    received_at: datetime
    message_id: str
    bundle: BundleIndex | None = None
    entry_base: str = ""  # FHIRPath of Bundle entries, e.g. "Bundle.entry"
    current_entry: int | None = None  # index of the Bundle entry being normalised
    _zone: ZoneInfo | None = None
    _time_window: EventTimeWindow | None = None
    _patients: dict[int, list[Identifier]] = field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        if self._zone is None:
            self._zone = self.settings.zone()
        return self._zone

    def event_time(self, ts: datetime, location: str) -> datetime:
        """`ts` if it lies in the accepted window around `received_at` (IngestSettings limits), else
        EventTimeOutOfRange at `location` (the FHIRPath of the element the time came from)."""
        if self._time_window is None:
            self._time_window = self.settings.event_time_window()
        return self._time_window.check(ts, self.received_at, location=location)

    def report_time(self) -> tuple[Any, str] | None:
        """(time, FHIRPath) of the DiagnosticReport whose `result` lists the current entry, if any."""
        if self.bundle is None or self.current_entry is None:
            return None
        return self.bundle.report_time.get(self.current_entry)

    @property
    def care(self) -> CareCodeBook:
        return _care_book(self.settings.care_codes)

    def encounter_id(self, resource: dict[str, Any]) -> str | None:
        """Id of the resource's encounter (resolved inside the Bundle when possible)."""
        ref = as_dict(resource.get("encounter")).get("reference")
        if not isinstance(ref, str) or not ref:
            return None
        if self.bundle is not None:
            i = self.bundle.find(ref)
            target = self.bundle.resources[i] if i is not None else None
            target_id = target.get("id") if target else None
            if isinstance(target_id, str):
                return target_id[:128]
        type_id = reference_id(ref)
        return (type_id[1] if type_id else ref)[:128]

    def patient_key(self, resource: dict[str, Any], location: str, element: str = "subject") -> str:
        """Patient key of the resource's `element` reference under the configured policy."""
        policy = self.settings.patient_key
        where = fhirpath(location, element)
        subject = resource.get(element)
        if not isinstance(subject, dict):
            raise MissingField(f"{element} is missing: no patient to attach the data to", location=where,
                               code="missing_patient_id")
        identifiers: list[Identifier] = []
        ref = subject.get("reference")
        logical: str | None = None
        if isinstance(ref, str) and ref:
            if ref.startswith("#"):
                identifiers += self._contained_patient(resource, ref[1:], location, where)
            else:
                found = self.bundle.find(ref) if self.bundle is not None else None
                if found is not None:
                    identifiers += self._bundle_patient(found, ref, where)
                elif ref.startswith(("urn:uuid:", "urn:oid:")):
                    raise MissingField(f"{element}.reference {ref!r} does not resolve inside the Bundle",
                                       location=fhirpath(where, "reference"), code="missing_patient_id")
                else:
                    type_id = reference_id(ref)
                    if type_id is None:
                        raise MissingField(f"{element}.reference {ref!r} is not a Patient reference",
                                           location=fhirpath(where, "reference"), code="missing_patient_id")
                    if type_id[0] != "Patient":
                        raise NonPatientSubject(ref)
                    logical = type_id[1]
        ident = subject.get("identifier")
        if isinstance(ident, dict):
            identifiers += _identifiers([ident])
        if not identifiers and logical:
            identifiers.append(Identifier(value=logical, authority=LOGICAL_ID_AUTHORITY))
        return choose_patient_key(identifiers, policy, location=where)

    def _contained_patient(self, resource: dict[str, Any], local_id: str, location: str,
                           where: str) -> list[Identifier]:
        for i, contained in enumerate(as_list(resource.get("contained"))):
            c = as_dict(contained)
            if c.get("id") == local_id:
                if c.get("resourceType") != "Patient":
                    raise NonPatientSubject(f"#{local_id}")
                ids = patient_identifiers(c)
                if not ids:
                    raise MissingField("contained Patient has no identifier", code="missing_patient_id",
                                       location=fhirpath(location, "contained", i, "identifier"))
                return ids
        raise MissingField(f"contained resource #{local_id} not found", location=fhirpath(where, "reference"),
                           code="missing_patient_id")

    def _bundle_patient(self, index: int, ref: str, where: str) -> list[Identifier]:
        if index in self._patients:
            return self._patients[index]
        assert self.bundle is not None
        target = self.bundle.resources[index]
        if target is None or target.get("resourceType") != "Patient":
            if target is not None:
                raise NonPatientSubject(ref)
            raise MissingField(f"reference {ref!r} points at an entry without a resource",
                               location=fhirpath(where, "reference"), code="missing_patient_id")
        # The Patient is read for its identifiers, so it is validated once, here.
        validate_resource(target, "Patient", location=fhirpath(self.entry_base, index, "resource"))
        ids = patient_identifiers(target)
        if not ids and isinstance(target.get("id"), str):
            ids = [Identifier(value=target["id"], authority=LOGICAL_ID_AUTHORITY)]
        self._patients[index] = ids
        return ids


def _identifiers(raw: list[Any]) -> list[Identifier]:
    out: list[Identifier] = []
    for ident in raw:
        d = as_dict(ident)
        value = d.get("value")
        if not isinstance(value, str) or not value.strip():
            continue
        type_code = next((c.get("code") for c in codings(d.get("type")) if isinstance(c.get("code"), str)), "")
        system = d.get("system") if isinstance(d.get("system"), str) else ""
        out.append(Identifier(value=value, type_code=type_code or "", authority=system or ""))
    return out


def patient_identifiers(patient: dict[str, Any]) -> list[Identifier]:
    """Patient.identifier as patient_key Identifiers (system -> authority, type code -> type_code)."""
    return _identifiers(as_list(patient.get("identifier")))
