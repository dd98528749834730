"""Site mapping of vendor (non-LOINC) observation codes to measures (pure; no I/O past loading).

Bedside-monitor gateways and flowsheet interfaces often send local codes
(`HR`, `SPO2`, `TEMP.ORAL`) instead of LOINC. A site lists them in a YAML file
(IngestSettings.local_codes; example in ingest/core/data/local_codes.example.yaml):

    codes:
      - {code: HR, system: PHILIPS, measure: heart_rate, unit: /min}
      - {code: TEMPC, measure: temperature, unit: Cel}     # no system: any coding system
    consciousness_answers:
      NEWCONF: C                                           # the site's "new confusion" answer code

`unit` is the unit the vendor uses for that code: it applies only when the
message leaves the unit field empty (it is the site's stated configuration,
not a guess from the number). An explicit unit in the message always wins.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.measures import CONSCIOUSNESS_LEVELS, Measure

__all__ = ["LocalCode", "LocalCodeMap", "LocalCodesFile", "load_local_codes"]


class LocalCode(BaseModel):
    """One vendor code and the measure it stands for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(min_length=1, max_length=64, description="the code as sent (OBX-3.1 / .4 / .10)")
    system: str = Field(default="", max_length=256,
                        description="its coding system (OBX-3.3 / .6 / .12); empty matches any system")
    measure: Measure
    unit: str | None = Field(default=None, max_length=32,
                             description="unit used when the message's unit field is empty")


class LocalCodesFile(BaseModel):
    """Schema of a local-codes YAML file."""

    model_config = ConfigDict(extra="forbid")

    codes: list[LocalCode] = Field(default_factory=list)
    consciousness_answers: dict[str, str] = Field(
        default_factory=dict, description="site answer code or text -> ACVPU letter (A, C, V, P, U)")

    @field_validator("consciousness_answers")
    @classmethod
    def _acvpu(cls, value: dict[str, str]) -> dict[str, str]:
        for answer, letter in value.items():
            if letter not in CONSCIOUSNESS_LEVELS:
                raise ValueError(f"consciousness_answers[{answer!r}]: {letter!r} is not one of "
                                 f"{CONSCIOUSNESS_LEVELS}")
        return value


class LocalCodeMap:
    """Look-ups over a validated LocalCodesFile (codes compared case-insensitively)."""

    def __init__(self, spec: LocalCodesFile | None = None) -> None:
        spec = spec or LocalCodesFile()
        self._exact: dict[tuple[str, str], LocalCode] = {}
        self._any: dict[str, LocalCode] = {}
        for entry in spec.codes:
            key = entry.code.strip().upper()
            if entry.system:
                self._exact[(key, entry.system.strip().upper())] = entry
            else:
                self._any[key] = entry
        self._answers = {k.strip().upper(): v for k, v in spec.consciousness_answers.items()}

    def __bool__(self) -> bool:
        return bool(self._exact or self._any)

    def lookup(self, code: str, system: str = "") -> LocalCode | None:
        """The mapping for `code` in `system` (an entry without system matches any system)."""
        key = code.strip().upper()
        found = self._exact.get((key, system.strip().upper()))
        return found if found is not None else self._any.get(key)

    def consciousness_answer(self, code_or_text: str) -> str | None:
        """The ACVPU letter a site answer code (or text) stands for, if configured."""
        return self._answers.get(code_or_text.strip().upper())


def load_local_codes(path: Path | str | None) -> LocalCodeMap:
    """Load and validate a local-codes YAML file; no path gives an empty map."""
    if path is None:
        return LocalCodeMap()
    data = yaml.safe_load(Path(path).read_text()) or {}
    return LocalCodeMap(LocalCodesFile.model_validate(data))
