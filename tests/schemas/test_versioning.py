"""Schema versions: the wire form stays what older releases read, a newer minor is read ignoring its new
fields, another major is refused with a reason naming both versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from schemas import versioning
from schemas.alert import Alert, AlertLevel, AlertTransition, ScoreSnapshot
from schemas.base import Location, Source
from schemas.codec import decode_event
from schemas.dead_letter import DeadLetter
from schemas.measures import Measure
from schemas.observation import Observation
from schemas.versioning import ReadRule, SchemaVersion

T0 = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)


def _observation() -> Observation:
    return Observation(patient_key="MRN1", measure=Measure.HEART_RATE, code="8867-4", value=96, unit="/min",
                       effective_at=T0, received_at=T0, source=Source.HL7V2, source_message_id="m1", source_id="s1",
                       location=Location(unit="4W", bed="12"))


def _alert() -> Alert:
    return Alert(patient_key="MRN1", alert_id="ep-1-0000", episode_id="ep-1", sequence=0, level=AlertLevel.URGENT,
                 transition=AlertTransition.OPENED, event_time=T0, emitted_at=T0, reasons=["NEWS2 6"],
                 scores=[ScoreSnapshot(name="news2", value=6, band="medium")])


def _wire(event: Observation | Alert) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(event.to_json_bytes())
    return data


def test_this_release_writes_the_bare_major_as_every_earlier_release_did() -> None:
    assert _wire(_observation())["schema_version"] == 1
    assert versioning.wire_schema_version(SchemaVersion(1, 0)) == 1
    assert versioning.wire_schema_version(SchemaVersion(1, 3)) == "1.3"
    assert orjson.loads(DeadLetter.for_payload(b"x", source="hl7v2", error_code="e", error_message="m",
                                               received_at=T0).to_json_bytes())["schema_version"] == 1


@pytest.mark.parametrize(("raw", "version"), [(1, (1, 0)), ("1", (1, 0)), ("1.0", (1, 0)), ("1.12", (1, 12)),
                                              ("2.0", (2, 0)), (3, (3, 0))])
def test_wire_values_parse(raw: object, version: tuple[int, int]) -> None:
    assert versioning.parse_schema_version(raw) == version


@pytest.mark.parametrize("raw", [True, 0, 1.1, 1.0, "", "1.", "v1", "1.1.1", None, [1], -1, "0.5"])
def test_values_that_are_not_versions_are_refused_by_name(raw: object) -> None:
    with pytest.raises(ValueError, match="schema_version: expected a major number"):
        versioning.parse_schema_version(raw)


def test_the_rule_for_each_declared_version() -> None:
    assert versioning.check_schema_version(1).rule is ReadRule.AS_IS
    assert versioning.check_schema_version("1.0").rule is ReadRule.AS_IS
    assert versioning.check_schema_version("1.1").rule is ReadRule.IGNORE_UNKNOWN_FIELDS
    assert versioning.check_schema_version("1.2", reader=SchemaVersion(1, 2)).rule is ReadRule.AS_IS
    assert versioning.check_schema_version("1.1", reader=SchemaVersion(1, 2)).rule is ReadRule.AS_IS  # older minor
    refused = versioning.check_schema_version("2.0")
    assert refused.rule is ReadRule.REFUSE
    assert "schema version 2.0" in refused.reason and "reads 1.x" in refused.reason
    assert versioning.check_schema_version(1, reader=SchemaVersion(2, 0)).rule is ReadRule.REFUSE  # an older major too
    assert versioning.check_schema_version("junk").rule is ReadRule.AS_IS  # the schema's own error names the field


@pytest.mark.parametrize("raw", [1, "1", "1.0"])
def test_reads_as_is_accepts_this_release(raw: object) -> None:
    assert versioning.reads_as_is(raw)


@pytest.mark.parametrize("raw", [2, "1.1", "2.0", True, 1.0, None, "x", 0])
def test_reads_as_is_rejects_everything_else(raw: object) -> None:
    assert not versioning.reads_as_is(raw)


def test_a_newer_minor_with_new_fields_is_read_and_the_new_fields_ignored() -> None:
    data = _wire(_observation())
    data.update(schema_version="1.1", device_id="monitor-7")
    data["location"]["floor"] = "3"  # nested additions are that minor's too
    decoded = decode_event(orjson.dumps(data))
    assert isinstance(decoded, Observation)
    assert decoded.value == 96 and decoded.location is not None and decoded.location.bed == "12"
    assert decoded.schema_version == SchemaVersion(1, 1)
    alert = _wire(_alert())
    alert.update(schema_version="1.4", acuity_colour="amber")
    alert["scores"][0]["trend"] = "rising"
    decoded_alert = decode_event(orjson.dumps(alert))
    assert isinstance(decoded_alert, Alert) and decoded_alert.reasons == ["NEWS2 6"]


def test_unknown_fields_at_this_release_s_version_are_still_a_producer_bug() -> None:
    data = {**_wire(_observation()), "device_id": "monitor-7"}
    with pytest.raises(ValidationError, match="device_id"):
        decode_event(orjson.dumps(data))


def test_a_newer_minor_still_needs_valid_known_fields() -> None:
    data = {**_wire(_observation()), "schema_version": "1.1", "value": 900, "device_id": "monitor-7"}
    with pytest.raises(ValidationError, match="implausible"):
        decode_event(orjson.dumps(data))


def test_another_major_is_refused_with_a_reason_even_when_its_fields_look_valid() -> None:
    data = {**_wire(_observation()), "schema_version": "2.0"}
    with pytest.raises(versioning.UnsupportedSchemaVersion, match=r"schema version 2\.0 is not readable.*reads 1\.x"):
        decode_event(orjson.dumps(data))
    data = {**_wire(_observation()), "schema_version": 2, "heart_rate_bpm": 96}
    with pytest.raises(versioning.UnsupportedSchemaVersion) as err:
        decode_event(orjson.dumps(data))
    assert err.value.error_code == "unsupported_schema_version"


def test_events_of_today_s_release_decode_unchanged() -> None:
    for event in (_observation(), _alert()):
        assert decode_event(event.to_json_bytes()) == event
        assert event.schema_version == versioning.CURRENT_SCHEMA
