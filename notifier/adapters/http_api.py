"""HTTP API: acknowledgements (API, signed phone links, PagerDuty V3 webhooks) and silences.

    GET  /healthz
    GET  /ack/{episode}?t=<token>   confirmation page (a GET never acknowledges: link previews are safe)
    POST /ack/{episode}?t=<token>   acknowledge with a signed link (the page's button)
    POST /ack/{episode}             acknowledge with `Authorization: Bearer <api token>`; JSON {"by": "..."};
                                    with "snooze_minutes": N a snooze (pages hold until then or until worse)
    POST /silences                  create (bearer token); JSON SilenceRequest
    GET  /silences                  list current and future silences (bearer token)
    DELETE /silences/{id}?by=...    end a silence early (bearer token)
    POST /webhooks/pagerduty        PagerDuty V3 webhook; X-PagerDuty-Signature checked
    /console/...                    the responder and operations console (notifier.console.web), when given;
                                    its ops pages read Kafka on their own thread (notifier.adapters.kafka_ops)

Responses never echo secrets; errors name the field and the bad value.
"""

from __future__ import annotations

import hmac
import html
import logging
from typing import Any, Protocol
from urllib.parse import quote

import orjson
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import SecretStr, ValidationError

from notifier.adapters.kafka_ops import KafkaOpsMonitor
from notifier.console.ops import OpsBook
from notifier.console.web import ConsoleOptions, ConsoleService, mount_console
from notifier.core.links import LinkCheck, check_ack_token
from notifier.core.model import AckEvent
from notifier.core.phi import build_view
from notifier.core.signing import verify_pagerduty_signature
from notifier.core.silence import Silence, SilenceRequest
from notifier.errors import SilenceRejected
from schemas.base import describe_validation_error
from sepsis_alert.kafka.config import KafkaSettings

__all__ = ["AckService", "ConsoleHost", "create_api", "start_ops_reader"]

log = logging.getLogger("notifier.api")

PAGERDUTY_ACK_EVENTS = {"incident.acknowledged": False, "incident.resolved": True}


class AckService(Protocol):
    """What the API needs from the running notifier."""

    def now_s(self) -> float: ...

    async def acknowledge(self, episode_id: str, acked_by: str, via: str, resolved: bool = False,
                          snooze_s: float | None = None) -> AckEvent: ...

    async def create_silence(self, request: SilenceRequest) -> Silence: ...

    def list_silences(self) -> list[Silence]: ...

    async def expire_silence(self, silence_id: str, by: str) -> Silence | None: ...


class TopicNames(Protocol):
    @property
    def dead_letter(self) -> str: ...


class ConsoleHost(ConsoleService, Protocol):
    """A notifier serving the console: the console's needs, and the Kafka the ops pages read."""

    @property
    def kafka(self) -> KafkaSettings: ...

    @property
    def topics(self) -> TopicNames: ...


def start_ops_reader(host: ConsoleHost, options: ConsoleOptions) -> OpsBook:
    """Start the ops pages' Kafka reader (its own thread); it stops when the console closes."""
    book = OpsBook()
    monitor = KafkaOpsMonitor(host.kafka, book, feed_topics=options.feed_topics,
                              dead_letter_topic=host.topics.dead_letter, lookback_s=options.ops_lookback_s,
                              refresh_s=options.ops_refresh_s)
    monitor.start()
    host.console.on_close(monitor.stop)
    return book


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (f"<!doctype html><html><head><meta name='viewport' content='width=device-width,initial-scale=1'>"
           f"<title>{html.escape(title)}</title></head><body style='font-family:sans-serif;margin:2em'>"
           f"<h2>{html.escape(title)}</h2>{body}</body></html>")
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return HTMLResponse(doc, status_code=status, headers=headers)


def _episode_summary(console: tuple[ConsoleService, ConsoleOptions] | None, episode: str) -> str:
    """What an acknowledge link is about (unit/bed, level, reasons within the console's PHI policy), as HTML."""
    if console is None:
        return ""
    service, options = console
    record = service.console.read(lambda book: book.get(episode))
    if record is None:
        return "<p>This notifier has no details of the episode (resolved long ago, or another site's).</p>"
    view = build_view(record.latest, options.policy, None)
    level = f"level {view.level} ({view.level_name})" if view.level is not None else ""
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in view.reasons)
    return (f"<p style='font-size:1.3em'><strong>{html.escape(view.location)}</strong> {html.escape(level)}</p>"
            f"<ul>{reasons}</ul>")


def create_api(service: AckService, link_secret: SecretStr, api_token: SecretStr | None,
               pagerduty_secret: SecretStr | None,
               console: tuple[ConsoleHost, ConsoleOptions] | None = None) -> FastAPI:
    """The FastAPI app (with the console, and its ops pages' Kafka reader, when `console` is given); secrets are
    unwrapped only inside the checks."""
    app = FastAPI(title="sepsis-alert notifier", docs_url=None, redoc_url=None, openapi_url=None)
    link_key = link_secret.get_secret_value().encode()
    if console is not None:
        mount_console(app, *console, ops=start_ops_reader(*console))

    def bearer_ok(request: Request) -> bool:
        if api_token is None:
            return True
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {api_token.get_secret_value()}".encode())

    def require_bearer(request: Request) -> None:
        if not bearer_ok(request):
            raise HTTPException(status_code=401, detail="missing or wrong bearer token")

    def link_check(episode: str, request: Request) -> LinkCheck:
        token = request.query_params.get("t")
        if not token:
            return LinkCheck.MALFORMED
        return check_ack_token(link_key, episode, token, service.now_s())

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ack/{episode}")
    async def ack_page(episode: str, request: Request) -> HTMLResponse:
        check = link_check(episode, request)
        if check != LinkCheck.VALID:
            return _page("Link not valid", f"<p>This acknowledge link is {html.escape(str(check))}.</p>", 403)
        # Percent-encoded so the form posts back to this very episode whatever its characters, then HTML-escaped.
        path = f"/ack/{quote(episode, safe='')}?t={quote(request.query_params['t'], safe='')}"
        action = html.escape(path, quote=True)
        form = (f"{_episode_summary(console, episode)}<p>Episode <code>{html.escape(episode)}</code></p>"
                f"<form method='post' action='{action}'>"
                f"<button style='font-size:1.5em;padding:.5em 1em' type='submit'>Acknowledge</button></form>")
        return _page("Acknowledge sepsis alert", form)

    @app.post("/ack/{episode}")
    async def ack(episode: str, request: Request) -> Response:
        by = "api"
        snooze_s: float | None = None
        if "t" in request.query_params:
            check = link_check(episode, request)
            if check != LinkCheck.VALID:
                raise HTTPException(status_code=403, detail=f"acknowledge link {check}")
            via, by = "link", "link"
        else:
            require_bearer(request)
            via = "api"
            raw = await request.body()
            if raw and request.headers.get("content-type", "").startswith("application/json"):
                try:
                    data = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    raise HTTPException(status_code=400, detail="body: not JSON") from None
                if isinstance(data, dict) and isinstance(data.get("by"), str) and data["by"].strip():
                    by = data["by"].strip()[:128]
                minutes = data.get("snooze_minutes") if isinstance(data, dict) else None
                if minutes is not None:
                    if isinstance(minutes, bool) or not isinstance(minutes, int | float) or not 0 < minutes <= 4320:
                        raise HTTPException(status_code=422, detail="snooze_minutes: a number of minutes in (0, 4320]")
                    snooze_s = float(minutes) * 60
        event = await service.acknowledge(episode, by, via, snooze_s=snooze_s)
        if via == "link":
            return _page("Acknowledged", f"{_episode_summary(console, episode)}"
                                         f"<p>Episode <code>{html.escape(episode)}</code> acknowledged.</p>")
        return JSONResponse({"episode_id": event.episode_id, "acked_by": event.acked_by, "via": event.via,
                             "acked_at_s": event.acked_at_s, "snooze_until_s": event.snooze_until_s})

    @app.post("/silences", status_code=201)
    async def create_silence(request: Request) -> JSONResponse:
        require_bearer(request)
        try:
            silence_request = SilenceRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise HTTPException(status_code=422, detail=describe_validation_error(exc)) from None
        try:
            silence = await service.create_silence(silence_request)
        except SilenceRejected as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return JSONResponse(silence.model_dump(mode="json"), status_code=201)

    @app.get("/silences")
    async def list_silences(request: Request) -> list[dict[str, Any]]:
        # Silences name units, patients and reasons: the same token as the write routes.
        require_bearer(request)
        return [s.model_dump(mode="json") for s in service.list_silences()]

    @app.delete("/silences/{silence_id}")
    async def expire_silence(silence_id: str, request: Request) -> JSONResponse:
        require_bearer(request)
        by = (request.query_params.get("by") or "api").strip()[:128] or "api"
        silence = await service.expire_silence(silence_id, by)
        if silence is None:
            raise HTTPException(status_code=404, detail=f"silence_id: unknown silence {silence_id!r}")
        return JSONResponse(silence.model_dump(mode="json"))

    @app.post("/webhooks/pagerduty")
    async def pagerduty_webhook(request: Request) -> Response:
        if pagerduty_secret is None:
            raise HTTPException(status_code=404, detail="PagerDuty webhook endpoint not configured")
        body = await request.body()
        header = request.headers.get("x-pagerduty-signature")
        if not verify_pagerduty_signature(header, body, pagerduty_secret.get_secret_value().encode()):
            raise HTTPException(status_code=401, detail="X-PagerDuty-Signature does not match")
        try:
            document = orjson.loads(body)
            event = document["event"]
            event_type = str(event.get("event_type", ""))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise HTTPException(status_code=400, detail="body: not a PagerDuty V3 webhook (event missing)") from None
        if event_type not in PAGERDUTY_ACK_EVENTS:
            return Response(status_code=204)
        data = event.get("data") or {}
        episode = data.get("incident_key") if isinstance(data, dict) else None
        if not isinstance(episode, str) or not episode:
            log.warning("PagerDuty %s without incident_key ignored", event_type)
            return Response(status_code=204)
        agent = event.get("agent") or {}
        agent_id = agent.get("id") if isinstance(agent, dict) else None
        await service.acknowledge(episode, f"pagerduty:{agent_id or 'unknown'}", "pagerduty",
                                  resolved=PAGERDUTY_ACK_EVENTS[event_type])
        return Response(status_code=204)

    return app
