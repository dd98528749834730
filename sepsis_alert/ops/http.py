"""A tiny in-process HTTP server for operations: GET (and HEAD) /metrics, /healthz and /readyz.

Any worker starts one beside its real work (it runs in a daemon thread and
never touches the worker's event loop):

    readiness = ReadinessRegistry()
    readiness.register("kafka_connected", "partitions_assigned")
    ops = start_ops_server(9403, readiness=readiness, worker="detect")
    ...
    ops.stop()

- `/healthz`: 200 while the process serves HTTP (liveness: restart me if this fails).
- `/readyz`: 200 when every readiness check passes, else 503 with the failing
  check names (readiness: send me traffic / count me as up only when this passes).
- `/metrics`: Prometheus exposition of `registry` (text format, or OpenMetrics when
  the scraper asks for it). With a token, requests need `Authorization: Bearer <token>`;
  the probes never need it (kubelet probes carry no credentials).

The server also exports `sepsis_ready`, `sepsis_readiness_check_passing{check}` and
`sepsis_build_info{worker,version}` from the readiness registry.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import threading
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar

from prometheus_client import REGISTRY, CollectorRegistry, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from pydantic import SecretStr

from sepsis_alert import __version__
from sepsis_alert.ops.readiness import ReadinessRegistry
from sepsis_alert.ops.settings import OpsSettings

__all__ = ["OpsServer", "OpsServerError", "ReadinessCollector", "start_ops_server", "start_ops_server_from_settings"]

_log = logging.getLogger(__name__)
_REQUEST_TIMEOUT_S = 10.0

# Every counter, histogram and summary would otherwise carry a `<name>_created` series: twice the series for
# nothing the dashboards or alert rules read (rate() and increase() handle restarts without it).
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated


class OpsServerError(RuntimeError):
    """The ops server could not start (typically: the port is taken). The message names host and port."""


class ReadinessCollector(Collector):
    """Prometheus collector exposing a ReadinessRegistry (and the build info) at scrape time."""

    def __init__(self, readiness: ReadinessRegistry, worker: str) -> None:
        self._readiness = readiness
        self._worker = worker

    def describe(self) -> Iterable[Metric]:
        # Real names, so that a second server on the same registry is detected (register() raises) and skipped.
        return [GaugeMetricFamily("sepsis_ready", ""),
                GaugeMetricFamily("sepsis_readiness_check_passing", "", labels=["check"]),
                GaugeMetricFamily("sepsis_build_info", "", labels=["worker", "version"])]

    def collect(self) -> Iterator[Metric]:
        report = self._readiness.report()
        ready = GaugeMetricFamily("sepsis_ready", "1 when every readiness check of this worker passes, else 0")
        ready.add_metric([], 1.0 if report.ready else 0.0)
        yield ready
        checks = GaugeMetricFamily("sepsis_readiness_check_passing",
                                   "1 when this readiness check passes, else 0", labels=["check"])
        for check in report.checks:
            checks.add_metric([check.name], 1.0 if check.ok else 0.0)
        yield checks
        info = GaugeMetricFamily("sepsis_build_info", "always 1; labels name the worker and the version",
                                 labels=["worker", "version"])
        info.add_metric([self._worker, __version__], 1.0)
        yield info


class _OpsHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], readiness: ReadinessRegistry, registry: CollectorRegistry,
                 token: SecretStr | None) -> None:
        self.readiness = readiness
        self.registry = registry
        self.token_bytes = token.get_secret_value().encode() if token is not None else None
        super().__init__(address, _OpsHandler)


class _OpsHandler(BaseHTTPRequestHandler):
    server: _OpsHTTPServer
    timeout = _REQUEST_TIMEOUT_S
    server_version = "sepsis-alert-ops"
    sys_version = ""
    _ROUTES: ClassVar[dict[str, str]] = {"/metrics": "_metrics", "/healthz": "_healthz", "/readyz": "_readyz"}
    _head_only = False

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        handler = self._ROUTES.get(path)
        if handler is None:
            self._send(404, b"not found: try /metrics, /healthz or /readyz\n", "text/plain; charset=utf-8")
            return
        getattr(self, handler)()

    def do_HEAD(self) -> None:
        # Load balancers and uptime checkers probe with HEAD: same status and headers as GET, no body.
        self._head_only = True
        self.do_GET()

    def _healthz(self) -> None:
        self._send(200, b"ok\n", "text/plain; charset=utf-8")

    def _readyz(self) -> None:
        report = self.server.readiness.report()
        body = json.dumps(report.as_dict(), sort_keys=True).encode() + b"\n"
        self._send(200 if report.ready else 503, body, "application/json")

    def _metrics(self) -> None:
        expected = self.server.token_bytes
        if expected is not None:
            given = self.headers.get("Authorization", "")
            scheme, _, credentials = given.partition(" ")
            # compare_digest: the time taken must not reveal how much of the token matched.
            if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(), expected):
                self._send(401, b"bearer token required\n", "text/plain; charset=utf-8",
                           extra_headers={"WWW-Authenticate": 'Bearer realm="sepsis-alert-metrics"'})
                return
        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
        try:
            body = encoder(self.server.registry)
        except Exception:  # a broken collector must not take the endpoint down with a traceback to the client
            _log.exception("collecting metrics failed")
            self._send(500, b"collecting metrics failed\n", "text/plain; charset=utf-8")
            return
        self._send(200, body, content_type)

    def _send(self, status: int, body: bytes, content_type: str,
              extra_headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not self._head_only:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # Access lines go to our JSON logs at DEBUG (scrapes every 15 s would flood INFO); never the headers.
        _log.debug("ops request %s", format % args)


class OpsServer:
    """Handle of a running ops server: its address, and stop()."""

    def __init__(self, server: _OpsHTTPServer, thread: threading.Thread, collector: ReadinessCollector | None,
                 registry: CollectorRegistry) -> None:
        self._server = server
        self._thread = thread
        self._collector = collector
        self._registry = registry

    @property
    def host(self) -> str:
        """The bound address."""
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:9403."""
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving and release the port (waits for the serving thread, at most 5 s). Idempotent."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5.0)
        self._server.server_close()
        if self._collector is not None:
            with contextlib.suppress(KeyError):
                self._registry.unregister(self._collector)
            self._collector = None

    def __enter__(self) -> OpsServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_ops_server(port: int, host: str = "127.0.0.1", *, readiness: ReadinessRegistry | None = None,
                     token: SecretStr | None = None, registry: CollectorRegistry = REGISTRY,
                     worker: str = "") -> OpsServer:
    """Start serving /metrics, /healthz and /readyz on `host:port` in a daemon thread; return its handle.

    `port` 0 picks a free port (see `OpsServer.port`). `readiness` defaults to an empty registry
    (always ready). `token` protects /metrics only. `registry` is what /metrics exposes: the
    process-wide default registry unless a test passes its own. Raises OpsServerError when the
    address cannot be bound.
    """
    readiness = readiness if readiness is not None else ReadinessRegistry()
    try:
        server = _OpsHTTPServer((host, port), readiness, registry, token)
    except OSError as exc:
        raise OpsServerError(f"ops server cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    collector = ReadinessCollector(readiness, worker)
    registered: ReadinessCollector | None = collector
    try:
        registry.register(collector)
    except ValueError:  # this registry already exports a readiness collector (second server in one process)
        registered = None
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5},
                              name=f"ops-http-{server.server_address[1]}", daemon=True)
    thread.start()
    handle = OpsServer(server, thread, registered, registry)
    _log.info("ops server listening on %s (metrics auth: %s)", handle.url, "bearer" if token else "none")
    return handle


def start_ops_server_from_settings(settings: OpsSettings, *, readiness: ReadinessRegistry | None = None,
                                   registry: CollectorRegistry = REGISTRY, worker: str = "") -> OpsServer | None:
    """`start_ops_server` with the host, port and token of `settings`; None when `settings.enabled` is False."""
    if not settings.enabled:
        return None
    return start_ops_server(settings.port, settings.host, readiness=readiness, token=settings.token(),
                            registry=registry, worker=worker)
