"""Fuzz the FHIR R4 normaliser (pure): any body gives events or an InputRejected with a reason.

Inputs: arbitrary bytes, arbitrary JSON, a valid vital-signs Observation (and a batch Bundle)
with one element replaced by a hostile value, deep nesting, huge numbers, NaN/Infinity
literals, invalid UTF-8. Every event that comes out must be a valid canonical event.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.config import IngestSettings
from ingest.core.errors import InputRejected
from ingest.core.fhir import analyse_fhir_document, normalise_fhir_document
from schemas.observation import Observation
from tests.adversarial.messages import observation

RECEIVED_AT = datetime(2024, 3, 1, 11, 0, tzinfo=UTC)
SETTINGS = IngestSettings()
FUZZ = settings(max_examples=200, deadline=timedelta(seconds=10),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)
HOSTILE = st.one_of(
    JSON,
    st.sampled_from([None, "", [], {}, 0, -1, 1e308, -1e308, 2**63, 2**64 + 1, "NaN", "Infinity", True,
                     "\u0000", "\ud7ff" * 1000, "Patient/", "Patient/../../etc", "#contained", "urn:uuid:",
                     "0001-01-01", "9999-12-31T23:59:59Z", "2024-02-30", "2024-03-01T25:00:00Z",
                     {"reference": 5}, {"value": "90"}, {"coding": "x"}, [[[[]]]]]),
)


def _outcome(raw: bytes) -> Any:
    try:
        result = normalise_fhir_document(raw, SETTINGS, RECEIVED_AT)
    except InputRejected as exc:
        assert exc.code and exc.message, f"rejection without code/reason: {exc!r}"
        return exc
    for event in result.events:
        if isinstance(event, Observation):
            Observation.model_validate(event.model_dump())
    return result


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.extend(_paths(value, (*prefix, index)))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    doc = copy.deepcopy(doc)
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return doc


BASE = observation()
BUNDLE = {"resourceType": "Bundle", "type": "batch",
          "entry": [{"resource": observation(rid=f"adv-b{i}"), "request": {"method": "POST", "url": "Observation"}}
                    for i in range(2)]}


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(raw: bytes) -> None:
    _outcome(raw)


@FUZZ
@given(JSON)
def test_arbitrary_json(doc: Any) -> None:
    _outcome(json.dumps(doc).encode())
    if isinstance(doc, dict):
        _outcome(json.dumps({**doc, "resourceType": "Observation"}).encode())
        _outcome(json.dumps({**doc, "resourceType": "Bundle"}).encode())


@FUZZ
@given(st.data())
def test_observation_with_one_hostile_element(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_paths(BASE)))
    _outcome(json.dumps(_replace(BASE, path, data.draw(HOSTILE))).encode())


@FUZZ
@given(st.data())
def test_batch_with_one_hostile_element(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_paths(BUNDLE)))
    raw = json.dumps(_replace(BUNDLE, path, data.draw(HOSTILE))).encode()
    try:
        doc = analyse_fhir_document(raw, SETTINGS, RECEIVED_AT, writes_only=True)
    except InputRejected as exc:
        assert exc.code and exc.message
        return
    for entry in doc.entries:
        assert (entry.error is None) or (entry.error.code and entry.error.message)


@pytest.mark.parametrize("depth", [100, 1_000, 100_000])
def test_deeply_nested_json_is_rejected_not_a_crash(depth: int) -> None:
    raw = b'{"resourceType":"Observation","extension":' + b"[" * depth + b"]" * depth + b"}"
    _outcome(raw)
    nested = b'{"url":"http://x","extension":[' * depth + b"{}" + b"]}" * depth
    _outcome(b'{"resourceType":"Observation","id":"x","extension":[' + nested + b"]}")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"9" * 5000,
                                     b"123456789012345678901234567890"])
def test_non_finite_and_huge_numbers_are_rejected(literal: bytes) -> None:
    raw = json.dumps(BASE).replace('"value": 90', '"value": __V__').encode().replace(b"__V__", literal)
    assert isinstance(_outcome(raw), InputRejected), f"value {literal[:20]!r} was accepted"


@pytest.mark.parametrize("raw", [
    b'{"resourceType":"Observation","id":"\xff\xfe"}',
    b'\xff\xfe{\x00"\x00r\x00',  # UTF-16 with BOM
    json.dumps(observation(rid="caf\u00e9")).encode("latin-1"),
    b'{"resourceType":"Observation","id":"\\ud800"}',
    b'{"resourceType":"Observation","resourceType":"Bundle"}',
    b"",
    b"\xef\xbb\xbf",
])
def test_invalid_encodings_are_rejected(raw: bytes) -> None:
    assert isinstance(_outcome(raw), InputRejected)
