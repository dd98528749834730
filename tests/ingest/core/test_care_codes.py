from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ingest.core.care_codes import load_care_codes
from schemas.care_event import Vasopressor


def test_shipped_code_book_classifies_cultures_and_drugs() -> None:
    book = load_care_codes()
    assert book.is_culture_order("600-7")
    assert book.is_culture_order("LOCAL1", "BLOOD CULTURE X2")
    assert not book.is_culture_order("2160-0", "Creatinine")
    norepi = book.classify_drug("7512")
    assert norepi is not None and norepi.vasopressor is Vasopressor.NOREPINEPHRINE
    levophed = book.classify_drug(None, "Levophed 4 mg in 250 mL")
    assert levophed is not None and levophed.vasopressor is Vasopressor.NOREPINEPHRINE
    vanc = book.classify_drug("11124")
    assert vanc is not None and vanc.category == "antibiotic"
    assert book.classify_drug("161", "Acetaminophen 500 mg") is None


def test_site_file_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "codes.yaml"
    bad.write_text("cultures: {loinc: []}\nantibiotics: {}\nvasopressors: {rxnorm: {'1': aspirin}}\n")
    with pytest.raises(ValidationError, match="vasopressors"):
        load_care_codes(bad)
