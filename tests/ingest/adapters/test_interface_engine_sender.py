"""docs/integrations/mirth-mllp.md, followed by a sender: the real listener and broker, and a sender that
behaves like the interface engine channel the guide configures (one connection, in order, queue on
failure, retry only the AE that says `retransmit`, error list for other AE, stop on AR)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from ingest.adapters.kafka_sink import KafkaEventSink
from ingest.adapters.mllp import MllpSettings
from ingest.config import IngestSettings
from ingest.hl7_worker import Hl7Worker, Hl7WorkerSettings
from schemas.topics import Topics
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from sepsis_alert.kafka.producer import EventProducer
from tests.ingest.adapters.harness import MllpClient, WorkerThread, ack_fields, unique_id
from tests.ingest.core.samples import BAD_UNIT_ORU, VITALS_ORU, with_ids

pytestmark = pytest.mark.integration

GARBAGE_HEADER = b"\x00\x00\x02MSH|0000|||M|M||||||2.80MMMMM0S0"


@dataclass
class EngineChannel:
    """The guide's channel settings as behaviour: what a Mirth destination configured that way does."""

    client: MllpClient
    queue: deque[tuple[str, bytes]]
    retries_before_queueing: int = 3
    delivered: list[str] = field(default_factory=list)
    error_list: list[tuple[str, str]] = field(default_factory=list)
    stopped_on: str | None = None

    def run(self) -> None:
        while self.queue and self.stopped_on is None:
            name, message = self.queue[0]
            for _ in range(self.retries_before_queueing + 1):
                msa = ack_fields(self.client.send(message))["MSA"]
                if not (msa[1] == "AE" and "retransmit" in msa[3]):
                    break  # only the transient AE is retried
            else:
                return  # still not stored: stays at the head of the queue, order kept
            if msa[1] == "AA":
                self.delivered.append(name)
            elif msa[1] == "AE":
                self.error_list.append((name, msa[3]))
            else:
                self.stopped_on = name  # AR: the channel stops; what follows stays queued
                return
            self.queue.popleft()


@pytest.fixture
def client(kafka_settings: KafkaSettings, kafka_topics: dict[str, str]) -> Iterator[MllpClient]:
    producer = EventProducer(kafka_settings)
    ingest = IngestSettings(send_timeout_s=20)
    settings = Hl7WorkerSettings(mllp=MllpSettings(port=0, idle_timeout_s=30))
    thread = WorkerThread(lambda: Hl7Worker(ingest, settings, KafkaEventSink(
        producer, raw_topic=settings.raw_topic, timeout_s=ingest.send_timeout_s)))
    port = thread.start()
    c = MllpClient("127.0.0.1", port)
    try:
        yield c
    finally:
        c.close()
        thread.stop()
        producer.close()


def test_a_channel_set_up_as_the_guide_says(client: MllpClient, kafka_settings: KafkaSettings) -> None:
    ids = {name: unique_id(name.upper()) for name in ("first", "bad_unit", "second", "after_ar")}
    mrn = unique_id("MRN")
    channel = EngineChannel(client, deque([
        ("first", with_ids(VITALS_ORU, ids["first"], mrn)),
        ("bad_unit", with_ids(BAD_UNIT_ORU, ids["bad_unit"], mrn)),
        ("second", with_ids(VITALS_ORU, ids["second"], mrn)),
        ("garbage", GARBAGE_HEADER),
        ("after_ar", with_ids(VITALS_ORU, ids["after_ar"], mrn)),
    ]))

    channel.run()

    assert channel.delivered == ["first", "second"]
    assert [name for name, _ in channel.error_list] == ["bad_unit"]
    assert "furlongs" in channel.error_list[0][1]  # the AE names what to fix at the source
    assert channel.stopped_on == "garbage"
    assert [name for name, _ in channel.queue] == ["garbage", "after_ar"]  # nothing after the AR was sent
    stored = [dict(r.headers).get("source_message_id", b"").decode()
              for r in read_all(kafka_settings, Topics.OBSERVATIONS, timeout_s=60)]
    assert stored.count(ids["first"]) == 6 and stored.count(ids["second"]) == 6
    assert ids["bad_unit"] not in stored and ids["after_ar"] not in stored
