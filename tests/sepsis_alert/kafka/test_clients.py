"""Clients that cannot reach a broker leave no network thread running (sepsis_alert/kafka/clients.py).

Real sockets, no broker: the bootstrap address is a port nobody listens on, as during a broker outage.
"""

from __future__ import annotations

import threading
import time

import pytest

from devstack.ports import free_port
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import make_consumer
from sepsis_alert.kafka.errors import KafkaUnavailableError
from sepsis_alert.kafka.topics import open_admin_client


def _network_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("kafka-io") and t.is_alive()}


@pytest.mark.parametrize("client", ["group consumer", "plain consumer", "admin client"])
def test_each_failed_connect_stops_the_network_thread_it_started(client: str) -> None:
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", bootstrap_timeout_ms=300)
    before = _network_threads()
    for _ in range(3):  # a worker retrying through an outage
        with pytest.raises(KafkaUnavailableError):
            if client == "admin client":
                open_admin_client(settings)
            else:
                make_consumer(settings, "g" if client == "group consumer" else None)
    deadline = time.monotonic() + 5
    while _network_threads() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _network_threads() - before == set(), "a network thread of a client that never connected still runs"
