"""The input of the chaos suite: PhysioNet stays as HL7 v2 messages, and interface-engine senders over MLLP.

Each stay goes whole to one sender (admission, then one ORU^R01 per hour), so per patient the order is the
order of the stay, as a hospital's interface engine keeps it. A sender resends a message until it gets AA:
on AE / AR, on silence and on a broken connection (ingest killed, broker down), with the same control id.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from evaluation.hl7_messages import adt_a01, oru_r01
from evaluation.mllp_client import MllpClient, MllpDeliveryError
from evaluation.physionet import ConversionCounts, HourMessage
from evaluation.replay import ReplayOptions, replay_items

__all__ = ["MllpSender", "ObservationKey", "StayFeed", "build_feed"]

ObservationKey = tuple[str, str, datetime]
"""(patient key, code, event time): one observation, however often it was stored."""

RESEND_PAUSE_S = 0.5


@dataclass
class StayFeed:
    """Messages per sender (control id, HL7 text) and the observations they carry."""

    messages: list[list[tuple[str, str]]]
    observations: set[ObservationKey]

    @property
    def total(self) -> int:
        return sum(len(m) for m in self.messages)


def build_feed(files: list[Path], senders: int, key_prefix: str) -> StayFeed:
    """The stays of `files` as HL7 v2, each stay whole to one of `senders` senders (longest stays first, each to
    the least loaded sender, so that the senders finish together)."""
    stays: dict[str, list[tuple[str, str]]] = {}
    observations: set[ObservationKey] = set()
    units: dict[str, str | None] = {}
    for item in replay_items(files, ReplayOptions(key_prefix=key_prefix), ConversionCounts()):
        if isinstance(item, HourMessage):
            control_id = f"{item.patient_key}-{item.iculos}"
            text = oru_r01(item.observations, control_id=control_id, unit=units.get(item.patient_key))
            observations.update((o.patient_key, o.code, o.effective_at) for o in item.observations)
            stays[item.patient_key].append((control_id, text))
        else:
            units[item.patient_key] = item.location.unit if item.location else None
            stays[item.patient_key] = [(f"{item.patient_key}-A01", adt_a01(item))]
    per_sender: list[list[tuple[str, str]]] = [[] for _ in range(senders)]
    for stay in sorted(stays.values(), key=len, reverse=True):
        min(per_sender, key=len).extend(stay)
    return StayFeed(per_sender, observations)


@dataclass
class MllpSender:
    """One interface engine: sends its messages in order, each until AA, pausing `pace_s` between messages."""

    port: int
    messages: list[tuple[str, str]]
    pace_s: float
    accepted: list[str] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)
    """How faults showed at this sender: AE, AR, no-ack."""
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> MllpSender:
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"mllp-sender-{id(self)}")
        self.thread.start()
        return self

    @property
    def done(self) -> bool:
        return len(self.accepted) == len(self.messages)

    def _run(self) -> None:
        with MllpClient("127.0.0.1", self.port, timeout_s=20, retries=0) as client:
            for control_id, text in self.messages:
                while not self.stop.is_set():
                    try:
                        code = client.send(text).code
                    except MllpDeliveryError:
                        code = "no-ack"
                    if code == "AA":
                        self.accepted.append(control_id)
                        break
                    self.refusals[code] += 1
                    time.sleep(RESEND_PAUSE_S)
                if self.stop.is_set():
                    return
                time.sleep(self.pace_s)
