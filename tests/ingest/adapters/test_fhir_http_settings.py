"""FHIR worker settings: bearer tokens from env or a secrets file, required unless --dev; dedup set bounds."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from ingest.adapters.fhir_http import SeenSet
from ingest.fhir_worker import FhirWorkerSettings, load_tokens


def test_tokens_required_unless_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEPSIS_FHIR_TOKENS", raising=False)
    monkeypatch.delenv("SEPSIS_FHIR_TOKENS_FILE", raising=False)
    with pytest.raises(ValidationError, match="no bearer tokens"):
        FhirWorkerSettings()
    assert FhirWorkerSettings(dev_no_auth=True).host == "127.0.0.1"


def test_tokens_from_env_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = tmp_path / "tokens"
    secrets.write_text("# ops\nfile-write\nfile-read read\n\n")
    monkeypatch.setenv("SEPSIS_FHIR_TOKENS", "env-a, env-b")
    monkeypatch.setenv("SEPSIS_FHIR_TOKENS_FILE", str(secrets))
    settings = FhirWorkerSettings()
    assert "env-a" not in repr(settings)  # SecretStr: never printed
    table = load_tokens(settings)
    assert [table.check(t) for t in ("env-a", "env-b", "file-write", "file-read", "other")] == [
        "write", "write", "write", "read", None]


def test_file_with_only_read_tokens_is_refused(tmp_path: Path) -> None:
    secrets = tmp_path / "tokens"
    secrets.write_text("only-read read\n")
    with pytest.raises(ValueError, match="no write token"):
        load_tokens(FhirWorkerSettings(tokens_file=secrets))


def test_tls_needs_both_files() -> None:
    with pytest.raises(ValidationError):
        FhirWorkerSettings(tokens=SecretStr("t"), tls_certfile=Path("cert.pem"))


def test_seen_set_keys_and_bound() -> None:
    obs = {"resourceType": "Observation", "id": "o1", "meta": {"versionId": "3"}, "status": "final",
           "identifier": [{"system": "urn:lab", "value": "A1"}]}
    keys = SeenSet.keys_for(obs)
    assert keys == ["Observation/o1|3|final", "Observation|urn:lab|A1|3|final"]
    seen = SeenSet(capacity=2)
    seen.add(keys)
    assert seen.seen(["Observation|urn:lab|A1|3|final"])
    assert not seen.seen(SeenSet.keys_for(dict(obs, status="corrected")))  # a correction is never a duplicate
    seen.add(["x"])
    assert not seen.seen(["Observation/o1|3|final"])  # evicted: bounded memory
