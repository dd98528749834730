"""Canonical event schemas: the contract between the workers (pydantic v2, JSON on the wire)."""

from schemas.alert import Alert, AlertLevel, AlertTransition, ScoreInput, ScoreSnapshot
from schemas.base import Location, Source, describe_validation_error
from schemas.care_event import CareEvent, CareEventKind, Vasopressor
from schemas.codec import decode_event
from schemas.dead_letter import DeadLetter, DeadLetterDetail
from schemas.measures import LOINC_TO_MEASURE, MEASURES, Measure
from schemas.observation import Observation, ResultStatus
from schemas.patient_event import PatientEvent, PatientEventKind, Sex
from schemas.topics import ALL_TOPICS, Topics

__all__ = [
    "ALL_TOPICS",
    "LOINC_TO_MEASURE",
    "MEASURES",
    "Alert",
    "AlertLevel",
    "AlertTransition",
    "CareEvent",
    "CareEventKind",
    "DeadLetter",
    "DeadLetterDetail",
    "Location",
    "Measure",
    "Observation",
    "PatientEvent",
    "PatientEventKind",
    "ResultStatus",
    "ScoreInput",
    "ScoreSnapshot",
    "Sex",
    "Source",
    "Topics",
    "Vasopressor",
    "decode_event",
    "describe_validation_error",
]
