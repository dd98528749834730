from __future__ import annotations

import pytest

from ingest.core.errors import MissingField
from ingest.core.patient_key import Identifier, PatientKeyPolicy, choose_patient_key


def test_prefers_mrn_over_earlier_identifiers() -> None:
    ids = [Identifier("555", "SS"), Identifier("MRN9", "MR", "HOSP")]
    assert choose_patient_key(ids, PatientKeyPolicy()) == "MRN9"


def test_falls_back_to_first_identifier_unless_disabled() -> None:
    ids = [Identifier("X1", "AN"), Identifier("X2", "")]
    assert choose_patient_key(ids, PatientKeyPolicy()) == "X1"
    with pytest.raises(MissingField):
        choose_patient_key(ids, PatientKeyPolicy(fallback_to_first=False), location="PID-3")


def test_hl7_authority_and_fhir_system_map_to_the_same_key() -> None:
    policy = PatientKeyPolicy(
        authorities={"HOSP": "hosp", "urn:oid:1.2.3.4": "hosp"}, prefix_with_authority=True
    )
    hl7 = choose_patient_key([Identifier("42", "MR", "HOSP")], policy)
    fhir = choose_patient_key([Identifier("42", "MR", "urn:oid:1.2.3.4")], policy)
    assert hl7 == fhir == "hosp|42"


def test_identifiers_from_other_authorities_are_ignored_when_authorities_are_set() -> None:
    policy = PatientKeyPolicy(authorities={"HOSP": "hosp"})
    with pytest.raises(MissingField) as err:
        choose_patient_key([Identifier("42", "MR", "OTHER")], policy, location="PID-3")
    assert err.value.code == "missing_patient_id"


def test_blank_values_never_become_keys() -> None:
    assert choose_patient_key([Identifier("  ", "MR"), Identifier(" 7 ", "PI")], PatientKeyPolicy()) == "7"
