"""OperationOutcome, response Bundles and CapabilityStatement are valid FHIR (checked with fhir.resources)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

from ingest.config import IngestSettings
from ingest.core.errors import InputRejected, UnknownUnitError
from ingest.core.fhir import SUPPORTED_RESOURCE_TYPES, FhirValidationError, normalise_fhir_document
from ingest.core.fhir.responses import (
    capability_statement,
    entry_response,
    http_status_for,
    outcome_for_rejection,
    response_bundle,
)


def _validation_error() -> FhirValidationError:
    bad = {"resourceType": "Observation", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
           "subject": {"reference": "Patient/1"}, "effectiveDateTime": "yesterday",
           "valueQuantity": {"value": "x", "code": "/min"}}
    with pytest.raises(FhirValidationError) as info:
        normalise_fhir_document(orjson.dumps(bad), IngestSettings(), datetime.now(UTC))
    return info.value


def test_validation_error_gives_one_issue_per_bad_element() -> None:
    outcome = outcome_for_rejection(_validation_error())
    OperationOutcome.model_validate(outcome)
    expressions = sorted(i["expression"][0] for i in outcome["issue"])
    assert expressions == ["Observation.effectiveDateTime", "Observation.valueQuantity.value"]
    assert all(i["severity"] == "error" and i["code"] == "structure" for i in outcome["issue"])
    assert http_status_for(_validation_error()) == 400


def test_business_rule_errors_are_422() -> None:
    exc = UnknownUnitError("unit 'x' is not accepted", location="Observation.valueQuantity.unit")
    outcome = outcome_for_rejection(exc)
    OperationOutcome.model_validate(outcome)
    assert outcome["issue"][0]["code"] == "value"
    assert http_status_for(exc) == 422
    assert http_status_for(InputRejected("?", code="parse_error"), exc) == 400


def test_response_bundle_is_valid() -> None:
    bundle = response_bundle("batch-response", [entry_response("201 Created", location="Observation/1"),
                                                entry_response("422 Unprocessable Entity",
                                                               outcome=outcome_for_rejection(InputRejected("bad")))],
                             timestamp=datetime(2024, 1, 1, tzinfo=UTC))
    Bundle.model_validate(bundle)


def test_capability_statement_is_valid_and_lists_what_we_take() -> None:
    cs = capability_statement("/fhir", software_version="0.1.0", date="2024-01-01",
                              supported_types=SUPPORTED_RESOURCE_TYPES, auth_required=True)
    model = CapabilityStatement.model_validate(cs)
    rest = model.rest[0]
    creatable = {r.type for r in rest.resource if r.interaction}
    assert creatable == {"Observation", "Patient", "Encounter"}
    assert {i.code for i in rest.interaction} == {"batch", "transaction"}
    assert rest.operation[0].name == "subscription-notification"
