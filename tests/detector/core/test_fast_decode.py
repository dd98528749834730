"""Differential tests of the Kafka hot path: `observation_fields` (orjson + structural checks) against the
pydantic `Observation` model (the reference), and `DetectorEngine.process_fields` against `process`."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from benchmarks.bench_detector import workload
from detector.core.engine import DetectorEngine
from detector.core.fast_decode import ObservationFields, observation_fields
from detector.core.window import event_seconds
from schemas import Measure, Observation, decode_event
from schemas.base import Location
from schemas.observation import ResultStatus
from tests.detector.builders import NORMAL, at, message, obs
from tests.detector.core.test_engine import _deteriorating


def _reference(observation: Observation) -> ObservationFields:
    return ObservationFields(observation.patient_key, observation.measure, event_seconds(observation.effective_at),
                             event_seconds(observation.received_at), observation.value, observation.value_code,
                             observation.source_id, observation.status, observation.part, observation.parts,
                             observation.location, observation.encounter_id, observation.correlation_id)


def _samples() -> list[Observation]:
    ward = Location(facility="H1", unit="4W", room="12", bed="B")
    return [*workload(3, 8, seed=2), *message("p1", at(1), **NORMAL), *_deteriorating("p2"),
            obs("p3", Measure.HEART_RATE, 88, at(2), "x1", status=ResultStatus.CORRECTED, location=ward),
            obs("p3", Measure.HEART_RATE, None, at(2), "x1", status=ResultStatus.CANCELLED),
            obs("p3", Measure.CONSCIOUSNESS, None, at(2), "x2", status=ResultStatus.CANCELLED),
            obs("p3", Measure.CONSCIOUSNESS, "V", at(2, 30), "x3", location=ward),
            obs("p3", Measure.WEIGHT, 81.5, at(3), "x4"),
            Observation.model_validate({**obs("p4", Measure.LACTATE, 2.5, at(4)).model_dump(),
                                        "encounter_id": "E1", "correlation_id": "c-1"})]


def test_canonical_records_decode_to_the_same_fields_as_the_schema() -> None:
    samples = _samples()
    cache: dict[str, int] = {}
    for observation in samples:
        fields = observation_fields(observation.to_json_bytes(), cache)
        assert fields == _reference(observation)


def _mutations(d: dict[str, Any], rnd: random.Random) -> list[dict[str, Any]]:
    out = []
    bad_values: list[object] = [None, "", " x", "x ", "a" * 300, -1, 0, 1.5, 10**6, True, [], {}, "nan",
                                "2026-01-05T08:00:00", "2026-01-05 08:00:00+00:00", "2026-01-05T08:00:00+25:00",
                                "heart_rate", "mmHg", "final", "cancelled", "V", "Q", 1e308, -5.0]
    for key in [*d, "extra", "kind", "schema_version"]:
        out.append({k: v for k, v in d.items() if k != key})
        for value in rnd.sample(bad_values, 6):
            out.append({**d, key: value})
    return out


def test_fast_path_never_accepts_what_the_schema_rejects() -> None:
    """Mutated records: when the fast path returns fields, the schema accepts the record and yields the same
    fields; when it returns None the adapter falls back to the schema (which may accept or reject)."""
    rnd = random.Random(3)
    accepted = rejected = 0
    for observation in _samples()[::7]:
        for mutated in _mutations(orjson.loads(observation.to_json_bytes()), rnd):
            raw = orjson.dumps(mutated)
            fields = observation_fields(raw)
            try:
                reference = decode_event(raw)
            except (ValidationError, ValueError):
                assert fields is None, mutated
                rejected += 1
                continue
            if fields is not None:
                assert isinstance(reference, Observation)
                assert fields == _reference(reference)
                accepted += 1
    assert accepted > 10 and rejected > 500


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", b'{"kind": "observation"}', b"\xff"])
def test_garbage_is_left_to_the_schema(raw: bytes) -> None:
    assert observation_fields(raw) is None


def test_process_fields_gives_the_same_results_as_process() -> None:
    events = [*workload(6, 30, seed=9), *_deteriorating("p2")]
    scorings: dict[str, list] = {"model": [], "fields": []}
    model = DetectorEngine(on_scored=lambda *args: scorings["model"].append(args))
    fast = DetectorEngine(on_scored=lambda *args: scorings["fields"].append(args))
    model_alerts, fast_alerts = [], []
    for event in events:
        model_alerts += [a.model_dump() for a in model.process(event)]
        fields = observation_fields(event.to_json_bytes())
        assert fields is not None
        fast_alerts += [a.model_dump() for a in fast.process_fields(*fields)]
    assert len(model_alerts) > 5 and fast_alerts == model_alerts
    assert scorings["fields"] == scorings["model"]
    assert {k: fast.export_state(k) for k in fast.patients} == {k: model.export_state(k) for k in model.patients}
    assert fast.stats == model.stats
