"""Differential test: our dict-reading normaliser against values read from fhir.resources' own models.

The normaliser validates each consumed resource with fhir.resources and then reads
the same JSON dict (fast path, no second parse). Here every corpus Observation that
gave events is re-read through the fhir.resources R4B model objects (Decimal values,
parsed datetimes, typed codings) and must give the same measure, value, unit,
event time and status.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.observation import Observation as FhirObservation

from ingest.config import IngestSettings
from ingest.core.fhir import normalise_fhir_document
from ingest.core.units import to_canonical
from schemas import LOINC_TO_MEASURE, Measure, Observation, ResultStatus

CORPUS = Path(__file__).resolve().parents[5] / "shared" / "corpora" / "fhir"
RECEIVED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CORPUS_SETTINGS = IngestSettings(max_event_age_days=73000)
"""The corpora carry example dates from decades ago: this module tests mapping, not the event-time window."""
_STATUS = {"final": "final", "preliminary": "preliminary", "amended": "corrected", "corrected": "corrected",
           "cancelled": "cancelled", "entered-in-error": "cancelled"}


def _measure(concept: Any) -> tuple[Measure, str] | None:
    for coding in concept.coding or []:
        if coding.system == "http://loinc.org" and coding.code in LOINC_TO_MEASURE:
            return LOINC_TO_MEASURE[coding.code], coding.code
    return None


def _reference(model: FhirObservation) -> dict[str, tuple[Measure, float | None, datetime, str]]:
    """source-id suffix -> (measure, canonical value, event time, status) computed from the model objects."""
    when = model.effectiveDateTime or (model.effectivePeriod.start if model.effectivePeriod else None) \
        or model.effectiveInstant or model.issued
    if isinstance(when, date) and not isinstance(when, datetime):
        when = datetime(when.year, when.month, when.day, tzinfo=UTC)
    status = _STATUS[model.status]
    out = {}
    parts = [("", model)] + [("#" + m[1], c) for c in (model.component or []) if (m := _measure(c.code))]
    for suffix, element in parts:
        found = _measure(element.code)
        if found is None:
            continue
        value = None
        if status != "cancelled" and element.dataAbsentReason is not None:
            continue  # skipped as data_absent
        if status != "cancelled" and element.valueQuantity is not None:
            q = element.valueQuantity
            unit = q.code if q.code and q.system in (None, "http://unitsofmeasure.org") else q.unit
            value = to_canonical(found[0], float(q.value), unit)
        elif status != "cancelled" and element.valueCodeableConcept is not None:
            ordinals = [float(x.valueDecimal) for c in element.valueCodeableConcept.coding or []
                        for x in c.extension or [] if x.url.endswith("/ordinalValue")]
            value = ordinals[0] if ordinals else None
        out[suffix] = (found[0], value, when, status)
    return out


def _corpus_observations() -> list[tuple[str, int, dict[str, Any]]]:
    found = []
    for path in sorted(CORPUS.glob("*.json")):
        doc = orjson.loads(path.read_bytes())
        if "_invalid" in path.name:
            continue  # rejected on purpose; see test_corpus.py
        if doc.get("resourceType") == "Observation":
            found.append((path.name, -1, doc))
        elif path.name.startswith("synthea_"):
            found += [(path.name, i, e["resource"]) for i, e in enumerate(doc["entry"])
                      if e["resource"]["resourceType"] == "Observation"]
    return found


CASES = _corpus_observations()


def test_there_are_enough_cases() -> None:
    assert len(CASES) > 300


@pytest.mark.parametrize(("name", "index", "resource"), CASES, ids=[f"{n}#{i}" for n, i, _ in CASES])
def test_dict_normaliser_matches_fhir_resources_models(name: str, index: int, resource: dict[str, Any]) -> None:
    resource = dict(resource)
    resource["subject"] = {"reference": "Patient/1"}  # Bundle-internal references are not the point here
    result = normalise_fhir_document(orjson.dumps(resource), CORPUS_SETTINGS, RECEIVED)
    events: list[Observation] = [e for e in result.events if isinstance(e, Observation)]
    if not events:
        return
    expected = _reference(FhirObservation.model_validate(resource))
    got = {e.source_id.partition("#")[1] + e.source_id.partition("#")[2]: e for e in events}
    assert set(got) == set(expected)
    for suffix, (measure, value, when, status) in expected.items():
        event = got[suffix]
        assert event.measure is measure
        assert event.status is ResultStatus(status)
        if event.value_code is None:
            assert event.value == value
        assert event.effective_at == when
