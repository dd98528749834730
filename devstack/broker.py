"""A real single-node Kafka broker (KRaft combined mode) run from the jars in `.local/kafka/libs`.

Used by the test suite (one broker per test session, plus throwaway ones for
fault tests) and by `make kafka-up` / `make kafka-down`:

    python -m devstack.broker_cli up     --data-dir .local/kafka/dev [--port 9092]
    python -m devstack.broker_cli status --data-dir .local/kafka/dev
    python -m devstack.broker_cli down   --data-dir .local/kafka/dev

Layout of a data directory: `server.properties` and `log4j2.properties`
(written on every start), `kraft/` (log.dirs and the metadata log), `broker.log`
(the broker's own log, via log4j2), `broker.out` (JVM stdout/stderr) and
`broker.pid` while it runs. The controller's port is part of the formatted
metadata, so a data directory keeps its ports for life: restarting reuses them.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from devstack.jars import DEFAULT_LIBS_DIR, REPO_ROOT, ensure_jars, jars_present
from devstack.ports import free_port, port_free, port_open
from devstack.supervisor import tail
from sepsis_alert.kafka.errors import BrokerStartError

# ensure_jars and free_port are re-exported: a test that starts a broker needs all three.
__all__ = ["DEFAULT_JVM_OPTS", "DEFAULT_LIBS_DIR", "REPO_ROOT", "LocalBroker", "ensure_jars", "free_port"]

DEFAULT_JVM_OPTS: tuple[str, ...] = (
    "-Xms64m",
    "-Xmx512m",
    "-XX:+UseSerialGC",         # one GC thread: the machine is shared and has 2 cores
    "-XX:TieredStopAtLevel=1",  # C1 only: much faster start-up, plenty for a dev broker
    "-Djava.awt.headless=true",
)
"""JVM options of the local broker: small heap, quick start-up."""

_KAFKA_MAIN = "kafka.Kafka"
_STORAGE_TOOL = "kafka.tools.StorageTool"
_PR_SET_PDEATHSIG = 1

_LOG4J2 = """\
status = warn
name = sepsis-local-broker
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.filePattern = {log}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = INFO
"""


def _tail(path: Path, lines: int) -> str:
    return tail(path, lines) if path.exists() else f"(no {path.name})"


def _read_properties(path: Path) -> dict[str, str]:
    props: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip()
    return props


def _pdeathsig_hook() -> Callable[[], None] | None:
    """A preexec_fn making the child get SIGKILL when the thread that forked it dies (Linux only).

    libc's prctl is looked up here, in the parent: the hook itself must not load
    libraries, because it runs between fork and exec of a multi-threaded process.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return hook


class LocalBroker:
    """One Kafka 4.x process in KRaft combined mode (broker + controller, node.id 1) on 127.0.0.1.

    Ports: given explicitly, else taken from an existing `server.properties`
    in `data_dir`, else free ports are chosen. `detached=True` lets the broker
    outlive this Python process (for `make kafka-up`); otherwise the JVM is
    killed if the thread that started it dies (Linux PR_SET_PDEATHSIG), so a
    crashed test session leaves no broker behind.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        port: int | None = None,
        controller_port: int | None = None,
        *,
        libs_dir: str | os.PathLike[str] | None = None,
        java: str = "java",
        jvm_opts: Sequence[str] = DEFAULT_JVM_OPTS,
        detached: bool = False,
        extra_properties: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.libs_dir = Path(libs_dir).resolve() if libs_dir is not None else DEFAULT_LIBS_DIR
        self.java = java
        self.jvm_opts = tuple(jvm_opts)
        self.detached = detached
        self.extra_properties = dict(extra_properties or {})
        self.host = "127.0.0.1"
        stored = self._stored_ports()
        if stored is not None:
            wanted = (port or stored[0], controller_port or stored[1])
            if self.formatted and wanted != stored:
                raise BrokerStartError(
                    f"{self.data_dir} was formatted for ports {stored[0]}/{stored[1]} (broker/controller), "
                    f"not {wanted[0]}/{wanted[1]}: use those ports or a fresh data directory")
            port, controller_port = wanted
        self.port: int = port if port is not None else free_port(self.host)
        self.controller_port: int = (controller_port if controller_port is not None
                                     else free_port(self.host, exclude=(self.port,)))
        self._proc: subprocess.Popen[bytes] | None = None
        self.last_start_s: float | None = None
        """Seconds the last successful `start()` took (format + JVM start + readiness), for reports."""

    # ---------------------------------------------------------------- paths
    @property
    def bootstrap(self) -> str:
        """`host:port` of the client listener (PLAINTEXT)."""
        return f"{self.host}:{self.port}"

    @property
    def properties_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log_dir(self) -> Path:
        """Kafka's `log.dirs` (partitions and the KRaft metadata log)."""
        return self.data_dir / "kraft"

    @property
    def log_file(self) -> Path:
        """The broker's own log (log4j2)."""
        return self.data_dir / "broker.log"

    @property
    def out_file(self) -> Path:
        """JVM stdout/stderr (start-up crashes that happen before logging is set up)."""
        return self.data_dir / "broker.out"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def formatted(self) -> bool:
        """True once the storage has been formatted (`meta.properties` exists)."""
        return (self.log_dir / "meta.properties").exists()

    def _stored_ports(self) -> tuple[int, int] | None:
        if not self.properties_file.exists():
            return None
        props = _read_properties(self.properties_file)
        ports: dict[str, int] = {}
        for listener in props.get("listeners", "").split(","):
            name, _, address = listener.partition("://")
            if address.rpartition(":")[2].isdigit():
                ports[name.strip()] = int(address.rpartition(":")[2])
        if "PLAINTEXT" in ports and "CONTROLLER" in ports:
            return ports["PLAINTEXT"], ports["CONTROLLER"]
        return None

    # -------------------------------------------------------------- process
    @property
    def pid(self) -> int | None:
        """Process id of the running broker (ours or found via the pid file), else None."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._is_our_java(pid) else None

    def _is_our_java(self, pid: int) -> bool:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if stat.rpartition(")")[2].split()[0] == "Z":  # zombie: exited, not reaped yet
            return False
        return _KAFKA_MAIN.encode() in cmdline and str(self.properties_file).encode() in cmdline

    def is_running(self) -> bool:
        """True while the broker process exists (it may still be starting)."""
        return self.pid is not None

    def is_ready(self, timeout_s: float = 5.0) -> bool:
        """True if the broker answers a real admin request (describe cluster) within `timeout_s` seconds."""
        return self._probe(timeout_s) is None

    def log_tail(self, lines: int = 60) -> str:
        """Last lines of the broker log and of the JVM output, for error messages."""
        return (f"--- {self.log_file} (last {lines} lines) ---\n{_tail(self.log_file, lines)}\n"
                f"--- {self.out_file} (last 20 lines) ---\n{_tail(self.out_file, 20)}")

    def _classpath(self) -> str:
        return str(self.libs_dir / "*")

    def _java_cmd(self, main_class: str, *args: str) -> list[str]:
        return [self.java, *self.jvm_opts,
                f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
                f"-Dkafka.logs.dir={self.data_dir}",
                "-Dlog4j2.shutdownHookEnabled=false",  # keep logging until Kafka's own shutdown is done
                "-cp", self._classpath(), main_class, *args]

    def _properties(self) -> dict[str, str]:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{self.host}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.log_dir),
            "num.partitions": "6",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            "log.cleaner.enable": "true",
            "log.cleaner.threads": "1",
            "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
            "log.cleaner.backoff.ms": "5000",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
            "log.retention.check.interval.ms": "60000",
            # A crashed (SIGKILLed) broker can only re-register once its old session expired:
            # keep that short so crash-and-restart fault tests do not wait the default 9 s.
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "1000",
        }
        props.update(self.extra_properties)
        return props

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lines = ["# Written by devstack.broker on every start; edits are overwritten."]
        lines += [f"{k}={v}" for k, v in self._properties().items()]
        self.properties_file.write_text("\n".join(lines) + "\n")
        (self.data_dir / "log4j2.properties").write_text(_LOG4J2.format(log=self.log_file))

    def _format_storage(self, timeout_s: float) -> None:
        cluster_id = _random_cluster_id()
        cmd = self._java_cmd(_STORAGE_TOOL, "format", "--standalone", f"--cluster-id={cluster_id}",
                             "-c", str(self.properties_file))
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BrokerStartError(f"formatting {self.log_dir} failed: {exc}") from exc
        if done.returncode != 0:
            raise BrokerStartError(f"formatting {self.log_dir} failed (exit {done.returncode}):\n"
                                   f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")

    def start(self, timeout_s: float = 120.0) -> None:
        """Start the broker and wait (up to `timeout_s` seconds) until it serves admin requests.

        Idempotent: returns at once if this data directory's broker already runs
        and answers. Raises BrokerStartError with the reason and the log tail.
        """
        began = time.monotonic()
        deadline = began + timeout_s
        if self.is_running():
            self._wait_ready(deadline)
            return
        if not jars_present(self.libs_dir):
            raise BrokerStartError(f"Kafka jars missing in {self.libs_dir}: run `make kafka-jars` "
                                   f"(or devstack.broker.ensure_jars())")
        for port in (self.port, self.controller_port):
            if not port_free(self.host, port):
                raise BrokerStartError(f"port {self.host}:{port} is already in use by another process")
        self._write_config()
        if not self.formatted:
            self._format_storage(max(5.0, deadline - time.monotonic()))
        with self.out_file.open("ab") as out:
            out.write(f"\n=== start {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
            out.flush()
            self._proc = subprocess.Popen(
                self._java_cmd(_KAFKA_MAIN, str(self.properties_file)),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.data_dir, start_new_session=True,
                preexec_fn=None if self.detached else _pdeathsig_hook(),
            )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        try:
            self._wait_ready(deadline)
        except BrokerStartError:
            self.kill()
            raise
        self.last_start_s = time.monotonic() - began

    def _wait_ready(self, deadline: float) -> None:
        reason = "not started"
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                raise BrokerStartError(f"broker process exited with code {self._proc.returncode} during "
                                       f"start-up\n{self.log_tail()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerStartError(f"broker at {self.bootstrap} not ready in time ({reason})\n"
                                       f"{self.log_tail()}")
            if port_open(self.host, self.port):
                problem = self._probe(min(5.0, max(1.0, remaining)))
                if problem is None:
                    return
                reason = problem
            else:
                reason = f"port {self.port} not listening yet"
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    def _probe(self, timeout_s: float) -> str | None:
        """None if the broker answers DescribeCluster with itself unfenced and a controller, else why not."""
        from kafka.admin import KafkaAdminClient  # imported lazily: the CLI `down` must not need it
        from kafka.errors import KafkaError

        timeout_ms = int(timeout_s * 1000)
        try:
            admin = KafkaAdminClient(bootstrap_servers=[self.bootstrap], client_id="local-broker-probe",
                                     bootstrap_timeout_ms=timeout_ms, request_timeout_ms=max(timeout_ms, 1001),
                                     reconnect_backoff_max_ms=200)
        except (KafkaError, OSError) as exc:
            return f"bootstrap failed: {exc!r}"
        try:
            cluster = admin.describe_cluster()
            brokers = [b for b in cluster.get("brokers", []) if not b.get("is_fenced", False)]
            if not brokers:
                return "no unfenced broker registered yet"
            if cluster.get("controller_id", -1) in (-1, None):
                return "no active controller yet"
            admin.list_topics()
            return None
        except (KafkaError, OSError) as exc:
            return f"describe_cluster failed: {exc!r}"
        finally:
            with contextlib.suppress(Exception):
                admin.close()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Graceful shutdown: SIGTERM, wait up to `timeout_s` seconds, then SIGKILL. No-op if not running."""
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not self._wait_exit(pid, timeout_s):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self._wait_exit(pid, 30.0)
        self._forget()

    def kill(self) -> None:
        """Crash the broker (SIGKILL, no clean shutdown) and wait for the process to be gone."""
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_exit(pid, 30.0)
        self._forget()

    def restart(self, timeout_s: float = 120.0, down_s: float = 0.0, *, crash: bool = False) -> None:
        """Stop (or, with `crash=True`, kill), stay down `down_s` seconds, start again on the same ports and data."""
        if crash:
            self.kill()
        else:
            self.stop()
        if down_s > 0:
            time.sleep(down_s)
        self.start(timeout_s)

    def _wait_exit(self, pid: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        if self._proc is not None and self._proc.pid == pid:
            try:
                self._proc.wait(timeout=timeout_s)
                return True
            except subprocess.TimeoutExpired:
                return False
        while time.monotonic() < deadline:
            if not self._is_our_java(pid):
                return True
            time.sleep(0.1)
        return not self._is_our_java(pid)

    def _forget(self) -> None:
        self._proc = None
        with contextlib.suppress(OSError):
            self.pid_file.unlink()

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalBroker({str(self.data_dir)!r}, port={self.port}, controller_port={self.controller_port})"


def _random_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 characters)."""
    return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
