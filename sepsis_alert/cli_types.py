"""argparse value types shared by the subcommands (a bad flag is refused before anything starts)."""

from __future__ import annotations

import argparse

__all__ = ["tcp_port"]


def tcp_port(text: str) -> int:
    """argparse type of a TCP port to listen on (0 = any free port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (0-65535)")
    return port
