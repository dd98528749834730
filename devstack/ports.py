"""Free TCP ports on this machine for local listeners (brokers, workers, test servers)."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Sequence
from pathlib import Path

__all__ = ["free_port", "port_free", "port_open"]


def free_port(host: str = "127.0.0.1", exclude: Sequence[int] = ()) -> int:
    """A currently free TCP port on `host`, chosen BELOW the kernel's ephemeral range.

    Ports from the ephemeral range (what `bind(0)` returns) can be taken by any
    outgoing connection while a test keeps the broker down for a while; ports
    below it are only ever taken by explicit listeners.
    """
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    top = max(low - 1, 12_000)
    rng = int.from_bytes(os.urandom(4), "big")
    for attempt in range(200):
        port = 10_000 + (rng + attempt * 7919) % (top - 10_000)
        if port not in exclude and port_free(host, port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # fall back to the kernel's choice
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
