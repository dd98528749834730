"""The console's ops pages (adapter: FastAPI routes and templates over notifier.console.ops), ops role only.

    GET  /console/ops/feeds                    last message per feed, silent feeds first and highlighted
    GET  /console/ops/lag                      committed vs end offsets per consumer group and topic
    GET  /console/ops/dead-letters             counts per source and reason, the latest reasons (never bodies)
    GET  /console/ops/routing                  the running routing tree and receivers (no URLs, no keys)
    GET  /console/silences                     current silences and the audit list of ended ones
    POST /console/silences                     create (author: the signed-in user); CSRF token
    POST /console/silences/{id}/expire         end one now; CSRF token

Every page reads a copy of the ops book, which a background thread fills (notifier.adapters.kafka_ops): a
broker outage shows as "unreachable since", never as a page that hangs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from notifier.config import NotifierConfig
from notifier.console.ops import (
    OpsBook,
    OpsSnapshot,
    dead_letter_counts,
    feed_rows,
    lag_rows,
    matcher_text,
    receiver_rows,
    route_rows,
    silence_audit_rows,
)
from notifier.core.silence import Silence, SilenceRequest
from notifier.errors import SilenceRejected
from schemas.base import describe_validation_error

__all__ = ["OpsPages", "OpsService", "add_ops_pages"]

SILENCE_MATCHERS = ("facility", "unit", "patient_key", "episode_id")


class SilenceTable(Protocol):
    silences: dict[str, Silence]
    """Every silence read from the audit topic, ended ones too."""


class OpsService(Protocol):
    """What the ops pages need from the running notifier."""

    @property
    def config(self) -> NotifierConfig: ...

    @property
    def silencer(self) -> SilenceTable: ...

    def now_s(self) -> float: ...

    async def create_silence(self, request: SilenceRequest) -> Silence: ...

    def list_silences(self) -> list[Silence]: ...

    async def expire_silence(self, silence_id: str, by: str) -> Silence | None: ...


@dataclass(frozen=True)
class OpsPages:
    """The console's sign-in and rendering, handed over by notifier.console.web.

    `page(request)`: the base template context of a signed-in ops user, or the sign-in redirect (403 below ops);
    `action(request, csrf)`: the same for a form post, CSRF token checked (401/403 raised);
    `render(template, status, **context)`.
    """

    page: Callable[[Request], dict[str, Any] | Response]
    action: Callable[[Request, str], dict[str, Any]]
    render: Callable[..., HTMLResponse]
    feed_silent_s: float


def add_ops_pages(router: APIRouter, service: OpsService, book: OpsBook | None, pages: OpsPages) -> None:
    """Add the ops routes to the console's router; without a `book` (no Kafka reader) the Kafka pages say so."""

    def snapshot() -> OpsSnapshot | None:
        return book.snapshot() if book is not None else None

    def kafka_page(request: Request, template: str, **rows: Callable[[OpsSnapshot], object]) -> Response:
        context = pages.page(request)
        if isinstance(context, Response):
            return context
        snap = snapshot()
        built = {name: build(snap) if snap is not None else [] for name, build in rows.items()}
        return pages.render(template, snap=snap, now=service.now_s(), silent_after_s=pages.feed_silent_s,
                            **built, **context)

    @router.get("/ops/feeds")
    async def feeds(request: Request) -> Response:
        now = service.now_s()
        return kafka_page(request, "ops_feeds.html", feeds=lambda s: feed_rows(s.feeds, now, pages.feed_silent_s))

    @router.get("/ops/lag")
    async def lag(request: Request) -> Response:
        return kafka_page(request, "ops_lag.html", rows=lambda s: lag_rows(s.committed, s.end_offsets))

    @router.get("/ops/dead-letters")
    async def dead_letters(request: Request) -> Response:
        return kafka_page(request, "ops_dead_letters.html", counts=lambda s: dead_letter_counts(s.dead_letter_counts),
                          recent=lambda s: list(s.recent_dead_letters))

    @router.get("/ops/routing")
    async def routing(request: Request) -> Response:
        context = pages.page(request)
        if isinstance(context, Response):
            return context
        return pages.render("ops_routing.html", routes=route_rows(service.config),
                            receivers=receiver_rows(service.config), **context)

    def silences_page(context: dict[str, Any], status: int = 200, error: str = "") -> HTMLResponse:
        now = service.now_s()
        return pages.render("silences.html", status=status, silences=service.list_silences(), now=now, error=error,
                            audit=silence_audit_rows(service.silencer.silences.values(), now),
                            matcher_text=matcher_text, max_hours=service.config.max_silence_s / 3600, **context)

    @router.get("/silences")
    async def silences(request: Request) -> Response:
        context = pages.page(request)
        return context if isinstance(context, Response) else silences_page(context)

    @router.post("/silences")
    async def create_silence(request: Request, csrf: str = Form(""), matchers: str = Form(""),
                             comment: str = Form(""), hours: float = Form(1.0)) -> Response:
        context = pages.action(request, csrf)
        fields: dict[str, object] = {"created_by": context["who"].username, "reason": comment.strip(),
                                     "duration_s": hours * 3600}
        for part in matchers.split(","):
            name, _, value = part.partition("=")
            if name.strip() and value.strip():
                fields[name.strip()] = value.strip()
        try:
            await service.create_silence(SilenceRequest.model_validate(fields))
        except ValidationError as exc:
            return silences_page(context, 422, describe_validation_error(exc))
        except SilenceRejected as exc:
            return silences_page(context, 422, str(exc))
        return RedirectResponse("/console/silences", status_code=303)

    @router.post("/silences/{silence_id}/expire")
    async def expire_silence(silence_id: str, request: Request, csrf: str = Form("")) -> Response:
        context = pages.action(request, csrf)
        if await service.expire_silence(silence_id, context["who"].username) is None:
            raise HTTPException(status_code=404, detail=f"silence {silence_id!r} is not known")
        return RedirectResponse("/console/silences", status_code=303)
