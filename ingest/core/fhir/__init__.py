"""FHIR R4 normalisation (pure): resources and Bundles -> canonical events.

Public entry point: `normalise_fhir_document(raw, settings, received_at)`. The HTTP
adapter uses `analyse_fhir_document` (per-entry outcomes for batch / transaction)
and `read_notification` (Subscription notifications). Models: fhir.resources R4B,
see validation.py for why.
"""

from ingest.core.fhir.bundle import (
    SUPPORTED_RESOURCE_TYPES,
    EntryOutcome,
    Notification,
    normalise_entries,
    normalise_resource,
    read_notification,
)
from ingest.core.fhir.context import NormaliseContext
from ingest.core.fhir.document import (
    FhirDocument,
    analyse_fhir_document,
    analyse_parsed,
    document_message_id,
    events_of,
    normalise_fhir_document,
    parse_fhir_json,
)
from ingest.core.fhir.validation import FHIR_MODEL_SET, FhirValidationError

__all__ = [
    "FHIR_MODEL_SET",
    "SUPPORTED_RESOURCE_TYPES",
    "EntryOutcome",
    "FhirDocument",
    "FhirValidationError",
    "NormaliseContext",
    "Notification",
    "analyse_fhir_document",
    "analyse_parsed",
    "document_message_id",
    "events_of",
    "normalise_entries",
    "normalise_fhir_document",
    "normalise_resource",
    "parse_fhir_json",
    "read_notification",
]
