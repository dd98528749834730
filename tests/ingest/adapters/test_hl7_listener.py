"""The MLLP listener against the real session broker: ACKs, records in Kafka, dead letters, retransmission.

A real client (our own, over a TCP socket) talks to the running worker; the test
reads the records back from Kafka. Topics are shared with other tests, so every
assertion filters on this test's unique MSH-10 / MRN.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ingest.adapters.dedup import RetransmissionIndex, dedup_key
from ingest.adapters.kafka_sink import KafkaEventSink
from ingest.adapters.mllp import HEAD_BYTES, MllpSettings, frame
from ingest.config import IngestSettings
from ingest.hl7_worker import Hl7Worker, Hl7WorkerSettings
from schemas.codec import decode_event
from schemas.dead_letter import DeadLetter
from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from sepsis_alert.kafka.producer import EventProducer
from tests.ingest.adapters.harness import MllpClient, WorkerThread, ack_fields, unique_id
from tests.ingest.core.samples import ADT_A01, BAD_UNIT_ORU, VITALS_ORU, with_ids

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def listener(kafka_settings: KafkaSettings, kafka_topics: dict[str, str]) -> Iterator[WorkerThread]:
    producer = EventProducer(kafka_settings)
    ingest = IngestSettings(send_timeout_s=20)
    settings = Hl7WorkerSettings(mllp=MllpSettings(port=0, max_frame_bytes=4096, idle_timeout_s=30))

    def make() -> Hl7Worker:
        sink = KafkaEventSink(producer, raw_topic=settings.raw_topic, timeout_s=ingest.send_timeout_s)
        return Hl7Worker(ingest, settings, sink)

    thread = WorkerThread(make)
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()
        producer.close()


@pytest.fixture
def client(listener: WorkerThread) -> Iterator[MllpClient]:
    assert listener.worker is not None
    c = MllpClient("127.0.0.1", listener.worker.port)
    try:
        yield c
    finally:
        c.close()


def _records(settings: KafkaSettings, topic: str, message_id: str) -> list[bytes]:
    return [r.value for r in read_all(settings, topic, timeout_s=30)
            if (dict(r.headers).get("source_message_id") or b"").decode() == message_id]


def test_oru_and_adt_are_acked_after_kafka_has_them(client: MllpClient, kafka_settings: KafkaSettings) -> None:
    oru_id, adt_id, mrn = unique_id("ORU"), unique_id("ADT"), unique_id("MRN")
    oru, adt = with_ids(VITALS_ORU, oru_id, mrn), with_ids(ADT_A01, adt_id, mrn)

    oru_ack, adt_ack = ack_fields(client.send(oru)), ack_fields(client.send(adt))

    assert oru_ack["MSA"][1:3] == ["AA", oru_id]
    assert oru_ack["MSH"][3:7] == ["SEPSIS", "HOSP", "MONITOR", "ICU-GW"]  # sender and receiver swapped
    assert oru_ack["MSH"][12] == "2.5.1" and oru_ack["MSH"][9] == "ACK^R01^ACK"
    assert adt_ack["MSA"][1:3] == ["AA", adt_id]
    assert adt_ack["MSH"][12] == "2.4"
    observations = [decode_event(v) for v in _records(kafka_settings, Topics.OBSERVATIONS, oru_id)]
    assert sorted(o.measure.value for o in observations) == sorted(
        ["heart_rate", "respiratory_rate", "temperature", "systolic_bp", "diastolic_bp", "spo2"])
    assert {o.patient_key for o in observations} == {mrn}
    assert {o.value for o in observations if o.measure.value == "temperature"} == {38.33}
    events = [decode_event(v) for v in _records(kafka_settings, Topics.PATIENT_EVENTS, adt_id)]
    # 63: the 64th birthday is the day after the event
    assert [(e.event.value, e.patient_key, e.age_years) for e in events] == [("admit", mrn, 63.0)]
    assert _records(kafka_settings, Topics.RAW_HL7, oru_id) == [oru]
    markers = [r for r in read_all(kafka_settings, Topics.INGEST_DEDUP, timeout_s=30)
               if r.key == dedup_key("MONITOR|ICU-GW", oru_id).encode()]
    assert len(markers) == 1 and json.loads(markers[0].value)["message_id"] == oru_id


def test_bad_input_gets_ae_and_a_dead_letter(client: MllpClient, kafka_settings: KafkaSettings) -> None:
    bad_id = unique_id("BAD")
    raw = with_ids(BAD_UNIT_ORU, bad_id, unique_id("MRN"))

    ack = ack_fields(client.send(raw))

    assert ack["MSA"][1:3] == ["AE", bad_id]
    assert "furlongs" in ack["MSA"][3] and "OBX[1]-6" in ack["MSA"][3]
    assert ack["ERR"][2] == "OBX^1^6" and ack["ERR"][3].startswith("103^")
    letters = [DeadLetter.model_validate_json(v) for v in _records(kafka_settings, Topics.DEAD_LETTER, bad_id)]
    assert len(letters) == 1
    assert letters[0].error_code == "unknown_unit" and letters[0].raw_payload() == raw
    assert letters[0].details[0].location == "OBX[1]-6"
    assert _records(kafka_settings, Topics.OBSERVATIONS, bad_id) == []


def test_garbage_gets_ar_and_the_connection_survives(client: MllpClient, kafka_settings: KafkaSettings) -> None:
    ack = ack_fields(client.send(b"\x00\x00\x02MSH|0000|||M|M||||||2.80MMMMM0S0"))
    assert ack["MSA"][1] == "AR" and "MSH-2" in ack["MSA"][3]
    ok_id = unique_id("OK")
    assert ack_fields(client.send(with_ids(VITALS_ORU, ok_id, unique_id("MRN"))))["MSA"][1:3] == ["AA", ok_id]


def test_retransmission_is_acked_again_without_duplicates(client: MllpClient, kafka_settings: KafkaSettings,
                                                          listener: WorkerThread) -> None:
    msg_id = unique_id("DUP")
    raw = with_ids(VITALS_ORU, msg_id, unique_id("MRN"))

    acks = [ack_fields(client.send(raw))["MSA"][1] for _ in range(3)]

    assert acks == ["AA", "AA", "AA"]
    assert len(_records(kafka_settings, Topics.OBSERVATIONS, msg_id)) == 6
    assert len(_records(kafka_settings, Topics.RAW_HL7, msg_id)) == 1
    assert listener.worker is not None
    assert listener.worker.metrics.messages.labels(message_type="ORU^R01", outcome="duplicate")._value.get() >= 2


def test_partial_reads_and_several_frames_per_write(client: MllpClient) -> None:
    ids = [unique_id("P") for _ in range(3)]
    messages = [with_ids(ADT_A01, i, unique_id("MRN")) for i in ids]
    client.send_raw(frame(messages[0]) + frame(messages[1]))  # two frames in one write
    data = frame(messages[2])
    for i in range(0, len(data), 7):  # and one frame dribbled in small pieces
        client.send_raw(data[i:i + 7])
    got = [ack_fields(client.read_ack())["MSA"][2] for _ in range(3)]
    assert got == ids


def test_oversized_frame_is_dead_lettered_truncated_and_the_connection_closes(
        listener: WorkerThread, kafka_settings: KafkaSettings) -> None:
    """No ACK (the rest of the frame is unread, the stream cannot be resynchronised), but a dead letter
    with the frame's first HEAD_BYTES bytes and a reason saying it was truncated."""
    assert listener.worker is not None
    c = MllpClient("127.0.0.1", listener.worker.port)
    big_id = unique_id("BIG")
    head = with_ids(VITALS_ORU, big_id) + b"NTE|1||"
    try:
        c.send_raw(b"\x0b" + head + b"X" * 10_000)
        with pytest.raises(ConnectionError):
            c.read_ack()
    finally:
        c.close()
    assert listener.worker.metrics.frame_errors.labels(reason="frame_too_large")._value.get() >= 1
    letters = [DeadLetter.model_validate_json(v) for v in _records(kafka_settings, Topics.DEAD_LETTER, big_id)]
    assert len(letters) == 1
    letter = letters[0]
    assert letter.error_code == "frame_too_large"
    assert "larger than 4096 bytes" in letter.error_message and "truncated" in letter.error_message
    assert letter.raw_payload().startswith(head) and len(letter.raw_payload()) == HEAD_BYTES


def test_many_connections_at_once(listener: WorkerThread) -> None:
    assert listener.worker is not None
    clients = [MllpClient("127.0.0.1", listener.worker.port) for _ in range(8)]
    try:
        ids = [unique_id("C") for _ in clients]
        for c, i in zip(clients, ids, strict=True):
            c.send_raw(frame(with_ids(ADT_A01, i, unique_id("MRN"))))
        assert [ack_fields(c.read_ack())["MSA"][1:3] for c in clients] == [["AA", i] for i in ids]
    finally:
        for c in clients:
            c.close()


def test_dedup_index_is_restored_from_kafka(kafka_settings: KafkaSettings, client: MllpClient) -> None:
    from datetime import UTC, datetime, timedelta

    from ingest.adapters.dedup import load_from_kafka

    msg_id = unique_id("RST")
    assert ack_fields(client.send(with_ids(ADT_A01, msg_id, unique_id("MRN"))))["MSA"][1] == "AA"
    fresh = RetransmissionIndex(timedelta(days=1))
    assert load_from_kafka(fresh, kafka_settings, datetime.now(UTC)) >= 1
    assert fresh.is_duplicate(dedup_key("ADT|HOSP", msg_id), datetime.now(UTC))


def test_metrics_count_outcomes_latency_and_sender_age(client: MllpClient, listener: WorkerThread) -> None:
    from prometheus_client import generate_latest

    assert ack_fields(client.send(with_ids(ADT_A01, unique_id("MET"), unique_id("MRN"))))["MSA"][1] == "AA"
    assert listener.worker is not None
    text = generate_latest(listener.worker.metrics.registry).decode()
    assert 'sepsis_hl7_messages_total{message_type="ADT^A01",outcome="accepted"}' in text
    assert 'sepsis_hl7_ack_latency_seconds_count{ack_code="AA"}' in text
    assert 'sepsis_hl7_last_message_age_seconds{sender="ADT|HOSP"}' in text
    assert 'sepsis_hl7_events_total{kind="patient_event"}' in text
    assert "sepsis_hl7_mllp_connections" in text


def test_idle_connection_is_closed(kafka_settings: KafkaSettings) -> None:
    producer = EventProducer(kafka_settings)
    settings = Hl7WorkerSettings(mllp=MllpSettings(port=0, idle_timeout_s=0.5))
    thread = WorkerThread(lambda: Hl7Worker(IngestSettings(), settings, KafkaEventSink(
        producer, raw_topic=settings.raw_topic, timeout_s=5)))
    port = thread.start()
    try:
        c = MllpClient("127.0.0.1", port, timeout_s=20)
        try:
            assert c.sock.recv(10) == b""  # the server hung up on the silent client
        finally:
            c.close()
        assert thread.worker is not None
        assert thread.worker.metrics.frame_errors.labels(reason="idle_timeout")._value.get() == 1
    finally:
        thread.stop()
        producer.close()


def test_one_implausible_obx_is_refused_alone_the_others_stored(client: MllpClient,
                                                                 kafka_settings: KafkaSettings) -> None:
    message_id, mrn = unique_id("PART"), unique_id("MRN")
    raw = with_ids(VITALS_ORU.replace("||118|/min", "||900|/min").replace("||93|%", "||193|%"), message_id, mrn)

    ack = client.send(raw)

    segments = [line.split("|") for line in ack.decode().split("\r") if line]
    msa = next(s for s in segments if s[0] == "MSA")
    errs = [s for s in segments if s[0] == "ERR"]
    assert msa[1:3] == ["AE", message_id] and "2 observation(s) refused" in msa[3] and "other 4 stored" in msa[3]
    assert [(e[2], e[3].split("^")[0], e[4]) for e in errs] == [("OBX^1^5", "102", "E"), ("OBX^6^5", "102", "E")]
    assert "implausible heart_rate 900" in errs[0][8]
    observations = [decode_event(v) for v in _records(kafka_settings, Topics.OBSERVATIONS, message_id)]
    assert sorted(o.measure.value for o in observations) == ["diastolic_bp", "respiratory_rate", "systolic_bp",
                                                             "temperature"]
    assert {(o.part, o.parts) for o in observations} == {(0, 4), (1, 4), (2, 4), (3, 4)}
    letters = [DeadLetter.model_validate_json(v) for v in _records(kafka_settings, Topics.DEAD_LETTER, message_id)]
    assert len(letters) == 1 and letters[0].raw_payload() == raw
    assert [(d.location, "implausible" in d.message) for d in letters[0].details] == [("OBX[1]-5", True),
                                                                                     ("OBX[6]-5", True)]
    # A retransmission gets the same answer, stores nothing twice and writes no second dead letter.
    again = client.send(raw)
    assert again.split(b"\r")[1].startswith(b"MSA|AE|" + message_id.encode())
    assert len(_records(kafka_settings, Topics.OBSERVATIONS, message_id)) == 4
    assert len(_records(kafka_settings, Topics.DEAD_LETTER, message_id)) == 1
