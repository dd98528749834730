"""Hostile-input builders shared by the adversarial tests (fake patients, written for these tests).

`oru(...)` builds a valid ORU^R01 around the OBX segments given, so that a test can
change exactly one thing (a value, a unit, a time, the delimiters) and see it rejected.
`observation(...)` does the same for a FHIR R4 vital-signs Observation.
"""

from __future__ import annotations

import uuid
from typing import Any

HEART_RATE = "8867-4"
TEMPERATURE = "8310-5"
SPO2 = "59408-5"


def unique(prefix: str = "ADV") -> str:
    """A control id / patient id that no other test on the shared broker uses."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def obx(n: int, code: str, value: str, unit: str, when: str = "20240301100500+0000", vtype: str = "NM") -> str:
    """One OBX segment with the default delimiters."""
    return f"OBX|{n}|{vtype}|{code}^vital^LN||{value}|{unit}|||||F|||{when}"


def oru(*obx_segments: str, control_id: str = "ADV0001", mrn: str | None = "4711",
        sent_at: str = "20240301101500+0000", delimiters: str = "|^~\\&") -> bytes:
    """An ORU^R01 (v2.5.1) with a PID (omitted when `mrn` is None) and the given OBX segments.

    `delimiters` is MSH-1 followed by MSH-2; segments written with the default
    delimiters are translated to the chosen ones.
    """
    field, comp, rep, esc, sub = delimiters[0], delimiters[1], delimiters[2], delimiters[3], delimiters[4]
    table = str.maketrans({"|": field, "^": comp, "~": rep, "\\": esc, "&": sub})
    segments = [f"MSH|^~\\&|MONITOR|ICU-GW|SEPSIS|HOSP|{sent_at}||ORU^R01^ORU_R01|{control_id}|P|2.5.1"]
    segments.append(f"PID|1||{mrn}^^^HOSP^MR||TEST^PATIENT||19600115|F" if mrn is not None else "PID|1||||TEST^PATIENT")
    segments.append("PV1|1|I|MICU^12^B^HOSP")
    segments.extend(obx_segments)
    translated = [s.translate(table) for s in segments]
    translated[0] = "MSH" + field + delimiters[1:] + translated[0][len("MSH|^~\\&"):]
    return ("\r".join(translated) + "\r").encode()


def vitals_oru(control_id: str = "ADV0001", mrn: str = "4711") -> bytes:
    """A plausible six-vital ORU^R01 (accepted by a correct normaliser)."""
    return oru(obx(1, HEART_RATE, "118", "/min"), obx(2, "9279-1", "24", "{breaths}/min"),
               obx(3, TEMPERATURE, "38.4", "Cel"), obx(4, "8480-6", "88", "mm[Hg]"),
               obx(5, "8462-4", "52", "mm[Hg]"), obx(6, SPO2, "93", "%"), control_id=control_id, mrn=mrn)


def observation(*, rid: str = "adv-obs-1", patient: str | None = "adv-p1", code: str = HEART_RATE,
                value: Any = 90, unit_code: str = "/min", when: str = "2024-03-01T10:00:00Z",
                **extra: Any) -> dict[str, Any]:
    """A FHIR R4 vital-signs Observation (valueQuantity with a UCUM code)."""
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": rid, "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit_code},
    }
    if patient is not None:
        resource["subject"] = {"reference": f"Patient/{patient}"}
    resource.update(extra)
    return resource
