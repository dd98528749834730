"""Child processes of `sepsis-alert run`: start in their own process group, log to a file, stop cleanly.

Each child gets its own session (process group), so a Ctrl-C in the terminal
reaches only the supervisor, which then stops the children in a chosen order:
SIGTERM to the whole group, a bounded wait, SIGKILL. Children also get
PR_SET_PDEATHSIG, so they die with the supervisor even if it is killed hard.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["ManagedProcess", "RestartPolicy", "http_status", "tail"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a text file ("" if it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 400 * lines))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def http_status(url: str, timeout_s: float = 2.0) -> int | None:
    """HTTP status of GET `url`, or None when nothing answers (connection refused, timeout)."""
    try:
        return httpx.get(url, timeout=timeout_s).status_code
    except httpx.HTTPError:
        return None


@dataclass
class RestartPolicy:
    """Back-off between restarts of a crashed child: `base_s`, doubling up to `max_s` seconds.

    A child that ran at least `stable_after_s` seconds before it died starts the sequence again at
    `base_s` (it was healthy; the crash is new), so a worker that keeps crashing at start-up is
    restarted ever more slowly while one that fails once a day comes back at once.
    """

    base_s: float = 1.0
    max_s: float = 30.0
    stable_after_s: float = 60.0
    _failures: int = field(default=0, init=False)

    def next_delay(self, ran_for_s: float) -> float:
        """Seconds to wait before restarting a child that died after running `ran_for_s` seconds."""
        if ran_for_s >= self.stable_after_s:
            self._failures = 0
        delay = min(self.max_s, self.base_s * 2.0 ** self._failures)
        self._failures += 1
        return delay


@dataclass
class ManagedProcess:
    """One child process whose stdout and stderr go to `log_path` (appended)."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    started_at: float | None = field(default=None, init=False)
    restarts: int = field(default=0, init=False)
    """How many times `restart` started it again."""

    def start(self) -> None:
        """Start the process (environment = ours + `env`). Raises OSError if it cannot be executed."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} start {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **self.env}, cwd=self.cwd, start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.started_at = time.monotonic()

    def restart(self) -> None:
        """Start it again after it exited (its process group is cleared first); counts `restarts`."""
        self.stop(5.0)
        self.restarts += 1
        self.start()

    def ran_for_s(self) -> float:
        """Seconds since the last start (0 before any start)."""
        return time.monotonic() - self.started_at if self.started_at is not None else 0.0

    @property
    def pid(self) -> int | None:
        """Process id once started."""
        return self._proc.pid if self._proc is not None else None

    def poll(self) -> int | None:
        """Exit code if the process has ended, else None (also None before start)."""
        return self._proc.poll() if self._proc is not None else None

    def running(self) -> bool:
        """True between start and exit."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM to the process group, wait up to `timeout_s` seconds, then SIGKILL. Returns the exit code."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=10.0)
        else:
            # The leader is gone; make sure nothing it started lingers in its group.
            self._signal_group(signal.SIGKILL)
        return self._proc.poll()

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of this process's log file."""
        return tail(self.log_path, lines)
