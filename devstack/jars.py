"""The Kafka broker's jars: fetched once by Maven into `.local/kafka/libs` (what `make kafka-jars` does)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

from sepsis_alert.kafka.errors import JarsUnavailableError

__all__ = ["DEFAULT_LIBS_DIR", "REPO_ROOT", "ensure_jars", "jars_present"]

REPO_ROOT = Path(__file__).resolve().parents[1]
"""The repository root: the parent of the `devstack` package."""
DEFAULT_LIBS_DIR = REPO_ROOT / ".local" / "kafka" / "libs"
"""Where `make kafka-jars` puts the broker's classpath."""


def jars_present(libs_dir: Path = DEFAULT_LIBS_DIR) -> bool:
    """True if `libs_dir` holds the Kafka server and client jars."""
    return any(libs_dir.glob("kafka_2.13-*.jar")) and any(libs_dir.glob("kafka-clients-*.jar"))


def ensure_jars(libs_dir: Path = DEFAULT_LIBS_DIR, timeout_s: float = 900.0) -> Path:
    """Make sure the broker jars are in `libs_dir`; fetch them with the Makefile's Maven command if not.

    Does nothing when `libs_dir/.complete` exists (the Makefile's stamp).
    Otherwise runs `mvn dependency:copy-dependencies` on deploy/kafka/pom.xml into
    a staging directory, moves the jars in one by one (atomic renames, so a broker
    already running from `libs_dir` is not disturbed) and writes the stamp.
    Concurrent callers (parallel test sessions) serialise on a lock file.
    Waits at most `timeout_s` seconds for Maven. Returns `libs_dir`.
    """
    stamp = libs_dir / ".complete"
    if stamp.exists():
        return libs_dir
    libs_dir.parent.mkdir(parents=True, exist_ok=True)
    with (libs_dir.parent / ".jars.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists():
            return libs_dir
        mvn = shutil.which("mvn")
        if mvn is None:
            raise JarsUnavailableError(f"Kafka jars missing ({stamp} absent) and Maven (mvn) is not installed")
        staging = libs_dir.parent / f"libs.staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        cmd = [mvn, "-q", "-B", "-f", str(REPO_ROOT / "deploy" / "kafka" / "pom.xml"),
               "dependency:copy-dependencies", f"-DoutputDirectory={staging}", "-DincludeScope=runtime"]
        try:
            done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise JarsUnavailableError(f"fetching the Kafka jars failed: {exc}") from exc
        if done.returncode != 0 or not jars_present(staging):
            shutil.rmtree(staging, ignore_errors=True)
            raise JarsUnavailableError(f"`{' '.join(cmd)}` failed (exit {done.returncode}):\n"
                                       f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        libs_dir.mkdir(parents=True, exist_ok=True)
        fetched = {jar.name for jar in staging.iterdir()}
        for jar in staging.iterdir():
            os.replace(jar, libs_dir / jar.name)
        for old in libs_dir.glob("*.jar"):
            if old.name not in fetched:
                old.unlink()
        staging.rmdir()
        stamp.touch()
    return libs_dir
