"""kafka-python clients that do not leave a network thread behind when they cannot connect.

kafka-python 3.0.12's KafkaConsumer and KafkaAdminClient start their network thread, then bootstrap; when the
bootstrap fails (the broker is down) the constructor raises and nothing stops that thread. A worker that retries
through an outage (the readiness probe every few seconds, the detector's reconnects) piled up one running thread
and its sockets per attempt: measured, two failed consumer constructions left two `kafka-io-*` threads alive.
The constructors take a `kafka_client` factory, so the one they build is known here and closed on failure.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from kafka.net.compat import KafkaNetClient

__all__ = ["closed_on_failure"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def closed_on_failure() -> Iterator[Callable[..., Any]]:
    """A `kafka_client` factory for one client constructor: if the block raises, every network client the
    factory built is closed (its thread stopped) before the error goes on."""
    built: list[Any] = []

    def build(**configs: Any) -> Any:
        client = KafkaNetClient(**configs)
        built.append(client)
        return client

    try:
        yield build
    except BaseException:
        for client in built:
            try:
                client.close()
            except Exception as exc:  # closing what never connected must not hide the real error
                log.debug("closing a client that failed to connect: %s", type(exc).__name__)
        raise
