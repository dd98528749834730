"""End-to-end differential for ORU^R01: what the fast path extracts equals what hl7apy's fields give.

The oracle side reads every input field of an Observation through hl7apy
(tests/ingest/core/hl7apy_oracle.py) and applies the documented rules (LOINC in
OBX-3 triplets, OBX-11 status, OBX-6 unit, OBX-14/OBR-7/MSH-7 time, PID-3 key);
unit conversion and timestamp reading are the shared, separately tested helpers.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.config import IngestSettings
from ingest.core.errors import InputRejected
from ingest.core.hl7v2 import Hl7Normaliser
from ingest.core.hl7v2.datatypes import parse_ts
from ingest.core.patient_key import Identifier, PatientKeyPolicy, choose_patient_key
from ingest.core.units import to_canonical
from schemas.measures import LOINC_TO_MEASURE
from tests.ingest.core.hl7apy_oracle import ApyMessage, hl7apy_text

RECEIVED = datetime(2024, 3, 2, 12, tzinfo=UTC)
SETTINGS = IngestSettings()
NORMALISER = Hl7Normaliser(SETTINGS)
STATUS = {"F": "final", "": "final", "P": "preliminary", "C": "corrected", "X": "cancelled", "W": "cancelled"}

VITALS = [("8867-4", "/min", 40, 180), ("9279-1", "breaths/min", 8, 40), ("8310-5", "Cel", 35, 41),
          ("8480-6", "mm[Hg]", 60, 200), ("8462-4", "mm Hg", 30, 120), ("59408-5", "%", 80, 100),
          ("2524-7", "mmol/L", 0, 15), ("777-3", "K/uL", 10, 500)]


@st.composite
def _message(draw: st.DrawFn) -> str:
    chars = draw(st.permutations("|^~\\&#!@$"))
    f, c, r, e, s = chars[:5]
    esc = {f: f"{e}F{e}", c: f"{e}S{e}", r: f"{e}R{e}", s: f"{e}T{e}", e: f"{e}E{e}"}

    def text(value: str) -> str:
        return "".join(esc.get(ch, ch) for ch in value)

    ids = draw(st.lists(st.tuples(st.text("ABC123", min_size=1, max_size=6), st.sampled_from(["MR", "SS", "PI", ""]),
                                  st.sampled_from(["HOSP", "", "A&B"])), min_size=1, max_size=3))
    pid3 = r.join(c.join([text(v), "", "", text(a.split("&")[0]) + (s + "1.2" if "&" in a else ""), t])
                  for v, a, t in [(v, a, t) for v, t, a in ids])
    obr7 = draw(st.sampled_from(["", "20240301100000", "20240301100000+0200"]))
    lines = [f.join(["MSH", c + r + e + s, "MON", "ICU", "SEP", "H", "20240301101500-0500", "", f"ORU{c}R01", "D1",
                     "P", "2.5.1"]),
             f.join(["PID", "1", "", pid3]),
             f.join(["OBR", "1", "", "F1", "", "", "", obr7])]
    for i in range(draw(st.integers(1, 5))):
        code, unit, low, high = draw(st.sampled_from(VITALS))
        value = draw(st.integers(low * 10, high * 10)) / 10
        alternate = draw(st.booleans())
        obx3 = c.join(["L1", text("local^name"), "L", code, "x", "LN"]) if alternate else c.join([code, "n", "LN"])
        obx6 = c.join([text(unit), "", "UCUM"])
        status = draw(st.sampled_from(list(STATUS)))
        obx14 = draw(st.sampled_from(["", "20240301095500", "20240301095500+0100"]))
        lines.append(f.join(["OBX", str(i + 1), "NM", obx3, str(i), str(value), obx6, "", "", "", "", status, "",
                             "", obx14]))
    return draw(st.sampled_from(["\r", "\n", "\r\n"])).join(lines)


def _oracle(raw: str) -> list[tuple]:
    m = ApyMessage(hl7apy_text(raw.encode()))
    names = m.segment_names()
    pid = names.index("PID")
    identifiers = []
    for rep in range(m.repetitions(pid, 3)):
        value = str(m.get(pid, 3, 1, 1, rep)).strip()
        if value:
            identifiers.append(Identifier(value, str(m.get(pid, 3, 5, 1, rep)).strip(),
                                          str(m.get(pid, 3, 4, 1, rep)).strip()
                                          or str(m.get(pid, 3, 4, 2, rep)).strip()))
    key = choose_patient_key(identifiers, PatientKeyPolicy())
    zone = SETTINGS.zone()
    msh7 = parse_ts(str(m.get(0, 7)), zone, location="MSH-7")
    obr7 = parse_ts(str(m.get(names.index("OBR"), 7)), zone, location="OBR-7")
    out = []
    for i, name in enumerate(names):
        if name != "OBX":
            continue
        code = next(str(m.get(i, 3, p)) for p in (1, 4) if str(m.get(i, 3, p + 2)) == "LN")
        measure = LOINC_TO_MEASURE[code]
        status = STATUS[str(m.get(i, 11)).strip()]
        value = None if status == "cancelled" else to_canonical(measure, float(str(m.get(i, 5))),
                                                                str(m.get(i, 6, 1)))
        when = parse_ts(str(m.get(i, 14)), zone, location="OBX-14") or obr7 or msh7
        out.append((key, measure.value, code, value, when, status, f"MON|ICU|F1|{code}|{m.get(i, 4)}"))
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_message())
def test_fast_path_extracts_what_hl7apy_reads(raw: str) -> None:
    try:
        expected = _oracle(raw)
    except InputRejected:  # e.g. an implausible value after conversion: the fast path must reject too
        try:
            NORMALISER.normalise(raw.encode(), RECEIVED)
        except InputRejected:
            return
        raise AssertionError("hl7apy side rejected, fast path accepted") from None
    got = [(o.patient_key, o.measure.value, o.code, o.value, o.effective_at, o.status.value, o.source_id)
           for o in NORMALISER.normalise(raw.encode(), RECEIVED).observations]
    assert len(expected) >= 1 and got == expected
