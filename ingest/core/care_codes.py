"""Which orders and drugs signal suspected infection or shock treatment (pure; no I/O past loading).

Shared by the HL7 v2 (ORM/OML/RDE/RAS) and FHIR (ServiceRequest, MedicationRequest,
MedicationAdministration) paths so both classify the same codes the same way.
Codes win; text keywords are a fallback for local codes that are not configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from schemas.care_event import Vasopressor

__all__ = ["CareCodeBook", "DrugMatch", "load_care_codes"]

DEFAULT_PATH = Path(__file__).with_name("data") / "care_codes.yaml"
RXNORM_SYSTEMS = frozenset({"http://www.nlm.nih.gov/research/umls/rxnorm", "RXNORM", "RXN", "RxNorm"})
LOINC_SYSTEMS = frozenset({"http://loinc.org", "LN", "LOINC"})


class _Cultures(BaseModel):
    model_config = ConfigDict(extra="forbid")
    loinc: list[str] = Field(default_factory=list)
    local: list[str] = Field(default_factory=list)
    text_keywords: list[str] = Field(default_factory=list)


class _Antibiotics(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rxnorm: dict[str, str] = Field(default_factory=dict)
    local: dict[str, str] = Field(default_factory=dict)
    name_keywords: list[str] = Field(default_factory=list)


class _Vasopressors(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rxnorm: dict[str, Vasopressor] = Field(default_factory=dict)
    local: dict[str, Vasopressor] = Field(default_factory=dict)
    name_keywords: dict[Vasopressor, list[str]] = Field(default_factory=dict)


class CareCodesFile(BaseModel):
    """Schema of care_codes.yaml."""

    model_config = ConfigDict(extra="forbid")
    cultures: _Cultures
    antibiotics: _Antibiotics
    vasopressors: _Vasopressors


@dataclass(frozen=True, slots=True)
class DrugMatch:
    """A drug that matters: an antibiotic (suspected infection) or a vasopressor (shock)."""

    category: Literal["antibiotic", "vasopressor"]
    name: str
    vasopressor: Vasopressor | None = None


class CareCodeBook:
    """Classifies order and drug codings. Build with `load_care_codes()`."""

    def __init__(self, spec: CareCodesFile) -> None:
        self._spec = spec
        self._culture_codes = {c.upper() for c in (*spec.cultures.loinc, *spec.cultures.local)}
        self._culture_words = [w.lower() for w in spec.cultures.text_keywords]
        self._abx_codes = {k.upper(): v for k, v in (*spec.antibiotics.rxnorm.items(),
                                                     *spec.antibiotics.local.items())}
        self._abx_words = [w.lower() for w in spec.antibiotics.name_keywords]
        self._vaso_codes = {k.upper(): v for k, v in (*spec.vasopressors.rxnorm.items(),
                                                      *spec.vasopressors.local.items())}
        self._vaso_words = [(w.lower(), drug) for drug, words in spec.vasopressors.name_keywords.items()
                            for w in words]

    def is_culture_order(self, code: str | None, text: str | None = None) -> bool:
        """True for a body-fluid culture order (by code, else by text keyword)."""
        if code and code.strip().upper() in self._culture_codes:
            return True
        low = (text or "").lower()
        return any(w in low for w in self._culture_words)

    def classify_drug(self, code: str | None, text: str | None = None) -> DrugMatch | None:
        """Antibiotic or vasopressor by RxNorm/local code, else by ingredient name in the text."""
        key = (code or "").strip().upper()
        if key in self._vaso_codes:
            drug = self._vaso_codes[key]
            return DrugMatch("vasopressor", drug.value, drug)
        if key in self._abx_codes:
            return DrugMatch("antibiotic", self._abx_codes[key])
        low = (text or "").lower()
        if low:
            for word, drug in self._vaso_words:
                if word in low:
                    return DrugMatch("vasopressor", drug.value, drug)
            for word in self._abx_words:
                if word in low:
                    return DrugMatch("antibiotic", word)
        return None


def load_care_codes(path: Path | str | None = None) -> CareCodeBook:
    """Load and validate a care-codes YAML file (default: the shipped one)."""
    data = yaml.safe_load(Path(path or DEFAULT_PATH).read_text())
    return CareCodeBook(CareCodesFile.model_validate(data))
