"""FHIR R4 HTTP endpoint (FastAPI on uvicorn): translate requests, call the pure normaliser, store in Kafka.

Routes (base path `settings.base_path`, default /fhir):
  POST /fhir/Observation | /Patient | /Encounter   one resource: 201 + Location, or 200 for a duplicate
  POST /fhir                                       batch / transaction Bundle -> *-response Bundle
  POST /fhir/$subscription-notification            Subscription notifications (backport R4, R4B, R5)
  GET  /fhir/metadata                              CapabilityStatement (no auth)
  GET  /metrics                                    Prometheus metrics (bearer token, read or write, unless
                                                   dev_no_auth; the ops server's port serves them too)

Guarantees: 2xx only after Kafka acknowledged every record (acks=all) of the request
(the raw body on sepsis.raw.fhir plus the events keyed by patient); Kafka unavailable ->
503 + Retry-After; bad input -> 400/422 with an OperationOutcome (FHIRPath expressions),
the raw body and the error written to the dead-letter topic; never 500 for input.

Kafka: through the shared ingest sink (ingest/adapters/kafka_sink.KafkaEventSink, raw topic
sepsis.raw.fhir), wrapped by `KafkaFhirSink`.

Duplicates: `SeenSet` (ingest/adapters/fhir_sink.py) remembers accepted resources.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, disable_created_metrics, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingest.adapters.fhir_fetch import FetchUnavailable, ResourceFetcher
from ingest.adapters.fhir_sink import FhirSink, KafkaFhirSink, SeenSet
from ingest.config import IngestSettings
from ingest.config_fhir import FhirWorkerSettings, TokenTable
from ingest.core.errors import InputRejected, ParseError
from ingest.core.fhir import SUPPORTED_RESOURCE_TYPES, FhirDocument, analyse_parsed, document_message_id, events_of
from ingest.core.fhir.bundle import read_notification
from ingest.core.fhir.document import NOTIFICATION_EVENT_KINDS, parse_fhir_json
from ingest.core.fhir.id_only import fetch_targets, with_fetched_resources
from ingest.core.fhir.responses import (
    capability_statement,
    created_location,
    entry_response,
    http_status_for,
    issue,
    operation_outcome,
    outcome_for_rejection,
    response_bundle,
)
from ingest.core.result import ClinicalEvent
from ingest.metrics_fhir import FhirMetrics
from schemas.dead_letter import DeadLetter, DeadLetterDetail
from sepsis_alert import __version__
from sepsis_alert.kafka.errors import KafkaUnavailableError

__all__ = ["FhirSink", "KafkaFhirSink", "SeenSet", "create_app", "uvicorn_config"]  # sinks re-exported

log = logging.getLogger(__name__)
disable_created_metrics()  # type: ignore[no-untyped-call]  # as on the ops port (sepsis_alert.ops.http): no `_created` twin of every series

FHIR_JSON = "application/fhir+json"
_ACCEPTED_TYPES = ("application/fhir+json", "application/json")
_DIRECT_TYPES = ("Observation", "Patient", "Encounter")
_HEAD_BYTES = 4096
"""How much of an oversize body is dead-lettered (enough for resourceType, id and the first elements)."""


def _fhir(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=FHIR_JSON, headers=headers)


def _info(text: str) -> dict[str, Any]:
    return operation_outcome([issue("information", "informational", text)])


class _Reject(Exception):
    def __init__(self, response: Response, outcome: str) -> None:
        super().__init__(outcome)
        self.response = response
        self.outcome = outcome


class _Endpoint:
    """Request handling shared by the routes (auth, body limits, dead letters, Kafka, metrics)."""

    def __init__(self, settings: FhirWorkerSettings, ingest: IngestSettings, sink: FhirSink, tokens: TokenTable,
                 metrics: FhirMetrics, fetcher: ResourceFetcher | None) -> None:
        self.settings = settings
        self.ingest = ingest
        self.sink = sink
        self.tokens = tokens
        self.metrics = metrics
        self.seen = SeenSet(settings.dedup_capacity)
        self.fetcher = fetcher
        self.fetch_bases = settings.fetch_bases()

    # --------------------------------------------------------------- checks
    def authorise(self, request: Request, *, write: bool = True) -> None:
        """Bearer token check (skipped with dev_no_auth); `write` False lets read-only tokens through."""
        if self.settings.dev_no_auth:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Reject(_fhir(operation_outcome([issue("error", "login", "bearer token required")]), 401,
                                {"WWW-Authenticate": 'Bearer realm="fhir"'}), "unauthorized")
        role = self.tokens.check(token.strip())
        if role is None:
            raise _Reject(_fhir(operation_outcome([issue("error", "login", "unknown bearer token")]), 401,
                                {"WWW-Authenticate": 'Bearer realm="fhir", error="invalid_token"'}), "unauthorized")
        if write and role != "write":
            raise _Reject(_fhir(operation_outcome([issue("error", "forbidden", "this token may not write data")]),
                                403), "forbidden")

    async def read_body(self, request: Request) -> bytes:
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype not in _ACCEPTED_TYPES:
            raise _Reject(_fhir(operation_outcome([issue(
                "error", "not-supported",
                f"Content-Type {ctype or '(none)'!r} is not supported; use application/fhir+json")]), 415),
                "unsupported_media_type")
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        chunks: list[bytes] = []
        size = 0
        if declared and declared.isdigit() and int(declared) > limit:
            await self._dead_letter_oversize(request, f"declared Content-Length {int(declared)}", limit)
        async for chunk in request.stream():
            size += len(chunk)
            chunks.append(chunk)
            if size > limit:
                await self._dead_letter_oversize(request, f"more than {limit} bytes received", limit, chunks)
        return b"".join(chunks)

    async def _dead_letter_oversize(self, request: Request, what: str, limit: int,
                                    chunks: list[bytes] | None = None) -> None:
        """Dead-letter the first HEAD_BYTES of an oversize body (reading no more than that), then raise 413."""
        head = b"".join(chunks) if chunks else b""
        if len(head) < _HEAD_BYTES and chunks is None:
            parts: list[bytes] = []
            got = 0
            try:
                async for chunk in request.stream():
                    parts.append(chunk)
                    got += len(chunk)
                    if got >= _HEAD_BYTES:
                        break
            except Exception:  # the client may go away: the dead letter keeps what arrived
                log.info("oversize FHIR body: client stopped sending before %d bytes", _HEAD_BYTES)
            head = b"".join(parts)
        head = head[:_HEAD_BYTES]
        message = f"request body over {limit} bytes ({what}); payload truncated to its first {len(head)} bytes"
        letter = DeadLetter.for_payload(
            head, source="fhir", worker=self.settings.worker_name, error_code="body_too_large",
            error_message=message, received_at=datetime.now(UTC),
            details=[DeadLetterDetail(location="$", message=message)])
        try:
            await self.sink.dead_letter(letter)
            self.metrics.dead_letters.labels("body_too_large").inc()
        except KafkaUnavailableError:
            self.metrics.dead_letter_failures.inc()
            log.error("dead letter for an oversize body not stored (Kafka unavailable)")
        raise _Reject(_fhir(operation_outcome([issue("error", "too-long", f"request body over {limit} bytes")]),
                            413), "too_large")

    # ------------------------------------------------------------- outcomes
    async def reject(self, raw: bytes, received_at: datetime, message_id: str | None,
                     *errors: InputRejected) -> Response:
        """Dead-letter the raw body with the errors, answer 400/422 with an OperationOutcome."""
        first = errors[0]
        letter = DeadLetter.for_payload(
            raw, source="fhir", worker=self.settings.worker_name, error_code=first.code,
            error_message=str(first)[:2000], received_at=received_at, source_message_id=message_id,
            details=[DeadLetterDetail(location=e.location or "$", message=e.message[:1000]) for e in errors[:50]])
        try:
            await self.sink.dead_letter(letter)
            self.metrics.dead_letters.labels(first.code).inc()
        except KafkaUnavailableError:
            # The sender's input is wrong either way; a retry would not fix it, so it still gets 4xx.
            self.metrics.dead_letter_failures.inc()
            log.error("dead letter not stored (Kafka unavailable): code=%s location=%s", first.code, first.location)
        log.info("FHIR input rejected: code=%s location=%s", first.code, first.location)
        return _fhir(outcome_for_rejection(*errors), http_status_for(*errors))

    async def store(self, raw: bytes, message_id: str, events: list[ClinicalEvent], received_at: datetime,
                    dedup_key: str | None = None) -> None:
        """Raises _Reject(503) when Kafka does not acknowledge in time."""
        try:
            await self.sink.store(raw, message_id, events, received_at, dedup_key)
        except KafkaUnavailableError as exc:
            log.warning("Kafka unavailable, answering 503: %s", exc)
            raise _Reject(_fhir(operation_outcome([issue("error", "transient",
                                                         "storage (Kafka) unavailable; retry later")]),
                                503, {"Retry-After": str(self.settings.retry_after_s)}), "unavailable") from None
        for e in events:
            self.metrics.events.labels(e.kind).inc()

    async def fill_id_only(self, doc: dict[str, Any], raw: bytes) -> tuple[dict[str, Any], bytes]:
        """An id-only event notification with the resources it names read from the EHR (else `doc` unchanged).

        The filled notification replaces the raw body, so the raw topic can be
        reprocessed without the EHR. Raises InputRejected (a reference outside the
        allowed servers, none configured, a bad resource) or _Reject(503) when the
        EHR cannot be read now, so the sender retries.
        """
        note = read_notification(doc)
        if note is None or note.kind not in NOTIFICATION_EVENT_KINDS:
            return doc, raw
        targets = fetch_targets(doc, self.fetch_bases)
        if not targets:
            return doc, raw
        if self.fetcher is None:  # create_app was given fetch URLs in the settings but no fetcher to use them
            raise InputRejected("id-only notifications are not read by this worker", location="Bundle",
                                code="fetch_not_configured")
        try:
            fetched = await self.fetcher.fetch_all(targets)
        except FetchUnavailable as exc:
            self.metrics.id_only_fetches.labels("unavailable").inc()
            log.warning("id-only notification: EHR not readable, answering 503: %s", exc)
            raise _Reject(_fhir(operation_outcome([issue("error", "transient",
                                                         "the resources this notification names could not be "
                                                         "read from the FHIR server; retry later")]),
                                503, {"Retry-After": str(self.settings.retry_after_s)}), "unavailable") from None
        except InputRejected:
            self.metrics.id_only_fetches.labels("rejected").inc()
            raise
        for resource in fetched.values():
            self.metrics.id_only_fetches.labels("gone" if resource is None else "ok").inc()
        filled = with_fetched_resources(doc, fetched, targets)
        return filled, orjson.dumps(filled)

    def count_skips(self, doc: FhirDocument) -> None:
        for s in doc.skipped:
            self.metrics.skipped.labels(s.reason).inc()

    def parse(self, raw: bytes) -> dict[str, Any]:
        return parse_fhir_json(raw)

    def analyse(self, doc: dict[str, Any], message_id: str, received_at: datetime, *,
                writes_only: bool = False) -> FhirDocument:
        try:
            return analyse_parsed(doc, message_id, self.ingest, received_at, writes_only=writes_only)
        except InputRejected:
            raise
        except Exception as exc:  # a normaliser bug must not become a 500 or kill the worker
            log.exception("unexpected error while normalising %s", message_id)
            raise InputRejected(f"could not process the resource ({type(exc).__name__})",
                                code="processing_error") from exc


Handler = Callable[[Request, bytes, datetime], Awaitable[Response]]


def create_app(settings: FhirWorkerSettings, ingest: IngestSettings, sink: FhirSink, tokens: TokenTable,
               metrics: FhirMetrics, fetcher: ResourceFetcher | None = None,
               seen_keys: Sequence[str] = ()) -> FastAPI:
    """The ASGI app. `sink` stores to Kafka (KafkaFhirSink in production); `fetcher` reads id-only notifications;
    `seen_keys` are duplicate keys of resources accepted before this process started (oldest first)."""
    app = FastAPI(title="sepsis-alert FHIR ingest", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    ep = _Endpoint(settings, ingest, sink, tokens, metrics, fetcher)
    ep.seen.add(list(seen_keys))
    if fetcher is not None:
        app.router.on_shutdown.append(fetcher.aclose)
    base = settings.base_path

    async def guarded(route: str, request: Request, handler: Handler) -> Response:
        started = time.perf_counter()
        received_at = datetime.now(UTC)
        raw = b""
        try:
            ep.authorise(request)
            raw = await ep.read_body(request)
            response = await handler(request, raw, received_at)
        except _Reject as rej:
            metrics.requests.labels(route, route, rej.outcome).inc()
            response = rej.response
        except InputRejected as exc:
            metrics.requests.labels(route, route, "rejected").inc()
            response = await ep.reject(raw, received_at, None, exc)
        metrics.latency.labels(route).observe(time.perf_counter() - started)
        return response

    async def single(rtype: str, request: Request, raw: bytes, received_at: datetime) -> Response:
        doc = ep.parse(raw)
        message_id = document_message_id(doc, raw)
        if doc.get("resourceType") != rtype:
            return await ep.reject(raw, received_at, message_id, ParseError(
                f"expected a {rtype}, got resourceType {doc.get('resourceType')!r}", location="resourceType"))
        keys = SeenSet.keys_for(doc)
        if ep.seen.seen(keys):
            metrics.requests.labels(rtype, rtype, "duplicate").inc()
            return _fhir(_info(f"duplicate of an accepted {rtype}; not stored again"), 200)
        try:
            result = ep.analyse(doc, message_id, received_at)
        except InputRejected as exc:
            metrics.requests.labels(rtype, rtype, "rejected").inc()
            return await ep.reject(raw, received_at, message_id, exc)
        await ep.store(raw, message_id, result.events, received_at, keys[0] if keys else None)
        ep.seen.add(keys)
        ep.count_skips(result)
        metrics.requests.labels(rtype, rtype, "created").inc()
        skipped = "; ".join(f"{s.location}: {s.reason}" for s in result.skipped[:20])
        text = f"accepted: {len(result.events)} event(s)" + (f"; skipped {skipped}" if skipped else "")
        # FHIR create SHALL answer with a Location; absolute, from the base URL the client used.
        location = f"{str(request.base_url).rstrip('/')}{base}/{created_location(doc, message_id)}"
        return _fhir(_info(text), 201, {"Location": location})

    for rtype in _DIRECT_TYPES:
        async def post_resource(request: Request, _rtype: str = rtype) -> Response:
            return await guarded(_rtype, request, lambda rq, raw, at: single(_rtype, rq, raw, at))

        app.add_api_route(f"{base}/{rtype}", post_resource, methods=["POST"], include_in_schema=False)

    async def bundle(request: Request, raw: bytes, received_at: datetime) -> Response:
        doc = ep.parse(raw)
        message_id = document_message_id(doc, raw)
        btype = doc.get("type")
        if doc.get("resourceType") != "Bundle" or btype not in ("batch", "transaction"):
            return await ep.reject(raw, received_at, message_id, InputRejected(
                f"POST {base} takes a Bundle of type batch or transaction, got "
                f"{doc.get('resourceType')!r}/{btype!r}", location="Bundle.type", code="unsupported"))
        try:
            result = ep.analyse(doc, message_id, received_at, writes_only=True)
        except InputRejected as exc:
            metrics.requests.labels("bundle", f"Bundle/{btype}", "rejected").inc()
            return await ep.reject(raw, received_at, message_id, exc)
        errors = result.errors
        if btype == "transaction" and errors:
            metrics.requests.labels("bundle", "Bundle/transaction", "rejected").inc()
            return await ep.reject(raw, received_at, message_id, *errors)
        good = [e for e in result.entries if e.error is None]
        await ep.store(raw, message_id, events_of(good), received_at)
        ep.count_skips(result)
        entries = []
        for e in result.entries:
            if e.error is not None:
                status = http_status_for(e.error)
                text = "Bad Request" if status == 400 else "Unprocessable Entity"
                entries.append(entry_response(f"{status} {text}", outcome=outcome_for_rejection(e.error)))
            elif e.events:
                loc = f"{e.resource_type}/{e.resource_id}" if e.resource_type and e.resource_id else None
                entries.append(entry_response("201 Created", location=loc))
            else:
                reasons = ", ".join(sorted({s.reason for s in e.skipped})) or "nothing to store"
                entries.append(entry_response("200 OK", outcome=_info(f"accepted, no events: {reasons}")))
        if errors:  # batch: the bad entries are dead-lettered one letter per request, with every error
            await ep.reject(raw, received_at, message_id, *errors)
        metrics.requests.labels("bundle", f"Bundle/{btype}", "partial" if errors else "accepted").inc()
        return _fhir(response_bundle(f"{btype}-response", entries, timestamp=received_at), 200)

    async def post_bundle(request: Request) -> Response:
        return await guarded("bundle", request, bundle)

    app.add_api_route(base, post_bundle, methods=["POST"], include_in_schema=False)

    async def notification(request: Request, raw: bytes, received_at: datetime) -> Response:
        doc = ep.parse(raw)
        message_id = document_message_id(doc, raw)
        try:
            doc, raw = await ep.fill_id_only(doc, raw)
            result = ep.analyse(doc, message_id, received_at)
        except InputRejected as exc:
            metrics.requests.labels("notification", "Bundle", "rejected").inc()
            return await ep.reject(raw, received_at, message_id, exc)
        note = result.notification
        if note is None:
            metrics.requests.labels("notification", "Bundle", "rejected").inc()
            return await ep.reject(raw, received_at, message_id, InputRejected(
                "not a Subscription notification (history Bundle starting with Parameters / SubscriptionStatus, "
                "or a subscription-notification Bundle)", location="Bundle.type", code="invalid_notification"))
        metrics.notifications.labels(note.form, note.kind).inc()
        if result.errors:
            metrics.requests.labels("notification", note.kind, "rejected").inc()
            return await ep.reject(raw, received_at, message_id, *result.errors)
        if note.kind in ("event-notification", "query-event"):
            await ep.store(raw, message_id, result.events, received_at)
            ep.count_skips(result)
        metrics.requests.labels("notification", note.kind, "accepted").inc()
        return _fhir(_info(f"{note.kind} received ({note.form}): {len(result.events)} event(s)"), 200)

    async def post_notification(request: Request) -> Response:
        return await guarded("notification", request, notification)

    app.add_api_route(f"{base}/$subscription-notification", post_notification, methods=["POST"],
                      include_in_schema=False)

    started_on = datetime.now(UTC).date().isoformat()

    async def metadata() -> Response:
        metrics.requests.labels("metadata", "CapabilityStatement", "ok").inc()
        return _fhir(capability_statement(base, software_version=__version__, date=started_on,
                                          supported_types=SUPPORTED_RESOURCE_TYPES,
                                          auth_required=not settings.dev_no_auth), 200)

    app.add_api_route(f"{base}/metadata", metadata, methods=["GET"], include_in_schema=False)

    async def metrics_route(request: Request) -> Response:
        # Metrics name senders and error reasons: never anonymous while auth is on.
        try:
            ep.authorise(request, write=False)
        except _Reject as rej:
            return rej.response
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", metrics_route, methods=["GET", "HEAD"], include_in_schema=False)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        code = "not-found" if exc.status_code == 404 else "not-supported"
        return _fhir(operation_outcome([issue("error", code, str(exc.detail))]), exc.status_code)

    return app


def uvicorn_config(app: FastAPI, settings: FhirWorkerSettings, **overrides: Any) -> uvicorn.Config:
    """uvicorn settings for the app: bind, optional TLS, no access log of bodies (uvicorn never logs them)."""
    kwargs: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "log_level": "info", "access_log": False, "log_config": None,
        "limit_concurrency": 512, "timeout_keep_alive": 30,
    }
    if settings.tls_certfile is not None:
        kwargs["ssl_certfile"] = str(settings.tls_certfile)
        kwargs["ssl_keyfile"] = str(settings.tls_keyfile)
    kwargs.update(overrides)
    return uvicorn.Config(app, **kwargs)
