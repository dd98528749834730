"""HL7 v2 ingest core (pure): fast ER7 parser, normalisation to canonical events, ACK builder.

    split_messages(bytes) -> [bytes]                  files, batches (FHS/BHS), MLLP captures
    parse_message(bytes) -> Message                   segments / fields / components, escapes
    Hl7Normaliser(settings).normalise(raw, received_at) -> Normalised   (raises InputRejected)
    read_ack_header(raw) + build_ack(...) -> bytes    original-mode ACK (AA / AE / AR)

No hl7apy here: hl7apy is the test oracle (tests/ingest/core/test_hl7v2_differential.py).
"""

from ingest.core.hl7v2.ack import AckCode, AckHeader, build_ack, build_partial_ack, error_code_for, read_ack_header
from ingest.core.hl7v2.batch import split_messages
from ingest.core.hl7v2.normalise import Hl7Normaliser
from ingest.core.hl7v2.parser import Delimiters, Message, Segment, parse_message, unescape

__all__ = [
    "AckCode",
    "AckHeader",
    "Delimiters",
    "Hl7Normaliser",
    "Message",
    "Segment",
    "build_ack",
    "build_partial_ack",
    "error_code_for",
    "parse_message",
    "read_ack_header",
    "split_messages",
    "unescape",
]
