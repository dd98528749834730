"""Tests of ingest/core/fhir (pure FHIR normalisation)."""
