"""Hand-written HL7 v2 samples for the ingest tests (written by the team for these tests; fake patients)."""

from __future__ import annotations

VITALS_ORU = (
    "MSH|^~\\&|MONITOR|ICU-GW|SEPSIS|HOSP|20240301101500+0100||ORU^R01^ORU_R01|MSG00001|P|2.5.1\r"
    "PID|1||123456^^^HOSP^MR~999-99-9999^^^SSA^SS||DOE^JANE||19600115|F\r"
    "PV1|1|I|MICU^12^B^HOSP||||||||||||||||V7788\r"
    "OBR|1|PL-1^MONITOR|FL-77^MONITOR|85353-1^Vital signs panel^LN|||20240301101000+0100\r"
    "OBX|1|NM|8867-4^Heart rate^LN||118|/min^beats per minute^UCUM|||||F|||20240301100500+0100\r"
    "OBX|2|NM|9279-1^Respiratory rate^LN||24|{breaths}/min^^UCUM|||||F\r"
    "OBX|3|NM|8310-5^Body temperature^LN||101.0|[degF]^^UCUM|||||F\r"
    "OBX|4|NM|8480-6^Systolic blood pressure^LN||88|mm[Hg]^^UCUM|||||F\r"
    "OBX|5|NM|8462-4^Diastolic blood pressure^LN||52|mm Hg|||||F\r"
    "OBX|6|NM|59408-5^SpO2^LN||93|%|||||F\r"
)
"""10 segments, 6 vitals: the benchmark message and the field-by-field sample."""

ADT_A01 = (
    "MSH|^~\\&|ADT|HOSP|SEPSIS|HOSP|20240301080000||ADT^A01^ADT_A01|ADT0001|P|2.4\r"
    "EVN|A01|20240301075900||||20240301075500\r"
    "PID|1||123456^^^HOSP^MR||DOE^JANE||19600302|F\r"
    "PV1|1|I|MICU^12^B^HOSP||||||||||||||||V7788\r"
)


def with_ids(template: str, control_id: str, mrn: str = "123456") -> bytes:
    """A sample with its MSH-10 and MRN replaced (unique per test on the shared broker)."""
    return template.replace("MSG00001", control_id).replace("ADT0001", control_id).replace("123456", mrn).encode()


BAD_UNIT_ORU = (
    "MSH|^~\\&|MONITOR|ICU-GW|SEPSIS|HOSP|20240301101500+0100||ORU^R01|MSG00001|P|2.5.1\r"
    "PID|1||123456^^^HOSP^MR\r"
    "OBX|1|NM|8867-4^Heart rate^LN||118|furlongs/fortnight|||||F|||20240301100500+0100\r"
)
