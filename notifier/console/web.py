"""The console's pages on the notifier's FastAPI app (adapter: HTTP, cookies, templates).

    GET  /console/                         worklist (viewer)
    GET  /console/events                   server-sent events: `changed` after every change
    GET  /console/episodes/{id}            episode page (viewer)
    POST /console/episodes/{id}/{action}   ack, snooze, close, comment (responder; CSRF token)
    GET  /console/silences, /console/ops/...  the ops pages (notifier.console.ops_web)
    GET|POST /console/login, POST /console/logout
    GET  /console/static/...               the page's script and style (served from the package)

Sign-in (notifier.console.accounts): a trusted proxy's headers, else a signed session cookie of a local
account, else the anonymous role (loopback only). A page asked for without it redirects to the sign-in
page; everything else answers 401, and an action beyond the role 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, PackageLoader, select_autoescape

from notifier.config import NotifierSettings
from notifier.console.accounts import Account, Role, UserStore, identity_from_proxy
from notifier.console.live import ConsoleState
from notifier.console.ops import OpsBook
from notifier.console.ops_web import OpsPages, OpsService, add_ops_pages
from notifier.console.worklist import RiskBands, ago, build_episode, build_worklist
from notifier.core.model import CLOSE_REASONS, AckEvent
from notifier.core.paging import PagingPolicy
from notifier.core.phi import PhiPolicy

__all__ = ["ConsoleOptions", "ConsoleService", "console_options", "mount_console"]

SESSION_COOKIE = "sepsis_console"
LOGIN_COOKIE = "sepsis_console_login"
STATIC_DIR = Path(__file__).parent / "static"
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'self'; style-src 'self'; script-src 'self'; "
                                       "img-src 'self' data:; frame-ancestors 'none'"}


class ConsoleService(OpsService, Protocol):
    """What the console needs from the running notifier."""

    console: ConsoleState

    async def record_action(self, episode_id: str, by: str, action: str, *, snooze_s: float | None = None,
                            reason: str | None = None, comment: str | None = None) -> AckEvent: ...


@dataclass(frozen=True)
class ConsoleOptions:
    session_key: bytes
    users_file: Path | None = None
    trusted_proxies: tuple[str, ...] = ()
    user_header: str = "X-Forwarded-User"
    groups_header: str = "X-Forwarded-Groups"
    group_roles: dict[str, str] = field(default_factory=dict)
    anonymous_role: Role | None = None
    session_s: float = 12 * 3600
    policy: PhiPolicy = field(default_factory=PhiPolicy)
    bands: RiskBands = field(default_factory=RiskBands)
    max_snooze_h: float = 12.0
    secure_cookies: bool = False
    feed_topics: tuple[str, ...] = ()
    feed_silent_s: float = 15 * 60
    ops_lookback_s: float = 24 * 3600
    ops_refresh_s: float = 15.0


def console_options(settings: NotifierSettings, paging: PagingPolicy) -> ConsoleOptions:
    """The console's options from the notifier's settings; the session key is derived from the link secret
    (the same on every replica, and never the shipped one off loopback), so no further secret is needed."""
    key = hmac.new(settings.link_secret.get_secret_value().encode(), b"sepsis-console-session", hashlib.sha256)
    anonymous = None if settings.console_anonymous_role == "none" else Role.parse(settings.console_anonymous_role)
    return ConsoleOptions(
        session_key=key.digest(), users_file=settings.console_users_file,
        trusted_proxies=tuple(settings.console_trusted_proxies), user_header=settings.console_proxy_user_header,
        groups_header=settings.console_proxy_groups_header, group_roles=dict(settings.console_group_roles),
        anonymous_role=anonymous, session_s=settings.console_session_hours * 3600,
        policy=PhiPolicy(allow=list(settings.console_phi_allow), max_reasons=4),
        bands=RiskBands(settings.console_risk_baseline, settings.console_risk_raised, settings.console_risk_high),
        max_snooze_h=paging.max_snooze_h, secure_cookies=settings.public_base_url.startswith("https://"),
        feed_topics=tuple(settings.console_feed_topics), feed_silent_s=settings.console_feed_silent_minutes * 60,
        ops_lookback_s=settings.console_ops_lookback_hours * 3600, ops_refresh_s=settings.console_ops_refresh_s)


def _nonce_token(key: bytes, nonce: str) -> str:
    return hmac.new(key, f"csrf|{nonce}".encode(), hashlib.sha256).hexdigest()


def mount_console(app: FastAPI, service: ConsoleService, options: ConsoleOptions, ops: OpsBook | None = None) -> None:
    """Add the console's routes and static files to `app`; `ops` is what the ops pages read of Kafka."""
    env = Environment(loader=PackageLoader("notifier.console", "templates"), autoescape=select_autoescape(),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["ago"] = ago
    env.filters["utc"] = _utc
    env.globals["close_reasons"] = CLOSE_REASONS
    sessions = URLSafeTimedSerializer(options.session_key, salt="sepsis-console-session")
    store = UserStore(options.users_file) if options.users_file is not None else None
    router = APIRouter(prefix="/console")

    def account_of(request: Request) -> tuple[Account | None, str]:
        """(who is asking, the session's CSRF nonce)."""
        client = request.client.host if request.client else None
        if options.trusted_proxies:
            proxied = identity_from_proxy(client, request.headers, options.trusted_proxies, options.user_header,
                                          options.groups_header, options.group_roles)
            if proxied is not None:
                return proxied, hashlib.sha256(f"proxy|{proxied.username}".encode()).hexdigest()[:32]
        raw = request.cookies.get(SESSION_COOKIE)
        if raw and store is not None:
            try:
                data = sessions.loads(raw, max_age=int(options.session_s))
            except BadSignature:
                data = None
            if isinstance(data, dict) and isinstance(data.get("u"), str) and isinstance(data.get("n"), str):
                role = store.role_of(data["u"])  # re-read: a removed account or a changed role applies at once
                if role is not None:
                    return Account(data["u"], role), data["n"]
        if options.anonymous_role is not None:
            return Account("anonymous", options.anonymous_role, source="anonymous"), "anonymous"
        return None, ""

    def require(request: Request, needed: Role) -> tuple[Account, str]:
        who, nonce = account_of(request)
        if who is None:
            raise HTTPException(status_code=401, detail="sign in to the console first")
        if not who.may(needed):
            raise HTTPException(status_code=403, detail=f"the {who.role.label} role may not do this "
                                                        f"({needed.label} or higher needed)")
        return who, nonce

    def check_csrf(nonce: str, token: str) -> None:
        if not hmac.compare_digest(_nonce_token(options.session_key, nonce).encode(), token.encode()):
            raise HTTPException(status_code=403, detail="form expired or not from this console (CSRF token); "
                                                        "reload the page and try again")

    def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**context), status_code=status, headers=_HEADERS)

    def page_or_login(request: Request) -> tuple[Account, str] | RedirectResponse:
        who, nonce = account_of(request)
        if who is None:
            return RedirectResponse(f"/console/login?next={quote(request.url.path, safe='/')}", status_code=303)
        return who, nonce

    @router.get("/login")
    async def login_page(request: Request, next: str = "/console/") -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        response = render("login.html", next=_safe_next(next), csrf=_nonce_token(options.session_key, nonce),
                          has_accounts=store is not None, error="")
        response.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict", secure=options.secure_cookies,
                            path="/console")
        return response

    @router.post("/login")
    async def login(request: Request, username: str = Form(""), password: str = Form(""), csrf: str = Form(""),
                    next: str = Form("/console/")) -> Response:
        check_csrf(request.cookies.get(LOGIN_COOKIE, ""), csrf)
        who = store.authenticate(username.strip(), password) if store is not None else None
        if who is None:
            return render("login.html", status=401, next=_safe_next(next), csrf=csrf, has_accounts=store is not None,
                          error="Wrong user name or password.")
        response = RedirectResponse(_safe_next(next), status_code=303)
        cookie = sessions.dumps({"u": who.username, "n": secrets.token_urlsafe(16)})
        response.set_cookie(SESSION_COOKIE, cookie, max_age=int(options.session_s), httponly=True, samesite="lax",
                            secure=options.secure_cookies, path="/")
        response.delete_cookie(LOGIN_COOKIE, path="/console")
        return response

    @router.post("/logout")
    async def logout(request: Request, csrf: str = Form("")) -> Response:
        _, nonce = require(request, Role.VIEWER)
        check_csrf(nonce, csrf)
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def base_context(who: Account, nonce: str) -> dict[str, Any]:
        return {"who": who, "csrf": _nonce_token(options.session_key, nonce), "may_act": who.may(Role.RESPONDER),
                "is_ops": who.may(Role.OPS)}

    @router.get("/")
    async def worklist(request: Request) -> Response:
        signed_in = page_or_login(request)
        if isinstance(signed_in, RedirectResponse):
            return signed_in
        now = service.now_s()
        rows = service.console.read(lambda book: build_worklist(book, now, options.policy, options.bands))
        return render("worklist.html", rows=rows, version=service.console.version, **base_context(*signed_in))

    @router.get("/episodes/{episode}")
    async def episode_page(episode: str, request: Request) -> Response:
        signed_in = page_or_login(request)
        if isinstance(signed_in, RedirectResponse):
            return signed_in
        now = service.now_s()

        record = service.console.read(lambda book: book.get(episode))
        if record is None:
            return render("missing.html", status=404, episode=episode, **base_context(*signed_in))
        view = service.console.read(lambda book: build_episode(record, now, options.policy, options.bands))
        return render("episode.html", page=view, episode=episode, max_snooze_h=options.max_snooze_h,
                      version=service.console.version, **base_context(*signed_in))

    @router.post("/episodes/{episode}/{action}")
    async def act(episode: str, action: str, request: Request, csrf: str = Form(""), reason: str = Form(""),
                  comment: str = Form(""), snooze_minutes: float = Form(0.0)) -> Response:
        who, nonce = require(request, Role.RESPONDER)
        check_csrf(nonce, csrf)
        if service.console.read(lambda book: book.get(episode)) is None:
            raise HTTPException(status_code=404, detail=f"episode {episode!r} is not known to this console")
        text = comment.strip()[:1000] or None
        if action == "ack":
            await service.record_action(episode, who.username, "ack", comment=text)
        elif action == "snooze":
            limit = options.max_snooze_h * 60
            if not 0 < snooze_minutes <= limit:
                raise HTTPException(status_code=422, detail=f"snooze_minutes: between 1 and {limit:g} (the paging "
                                                            f"policy's max_snooze_h)")
            await service.record_action(episode, who.username, "snooze", snooze_s=snooze_minutes * 60, comment=text)
        elif action == "close":
            if reason not in CLOSE_REASONS:
                raise HTTPException(status_code=422, detail=f"reason: one of {', '.join(CLOSE_REASONS)}")
            await service.record_action(episode, who.username, "close", reason=reason, comment=text)
        elif action == "comment":
            if text is None:
                raise HTTPException(status_code=422, detail="comment: empty")
            await service.record_action(episode, who.username, "comment", comment=text)
        else:
            raise HTTPException(status_code=404, detail=f"action {action!r}: one of ack, snooze, close, comment")
        return RedirectResponse(f"/console/episodes/{quote(episode, safe='')}", status_code=303)

    @router.get("/events")
    async def events(request: Request) -> StreamingResponse:
        require(request, Role.VIEWER)

        async def stream() -> object:
            yield f"event: hello\ndata: {service.console.version}\n\n"
            async for version in service.console.changes():
                if await request.is_disconnected():
                    return
                yield ": heartbeat\n\n" if version is None else f"event: changed\ndata: {version}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",  # type: ignore[arg-type]
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    def ops_page(request: Request) -> dict[str, Any] | Response:
        signed_in = page_or_login(request)
        if isinstance(signed_in, RedirectResponse):
            return signed_in
        if not signed_in[0].may(Role.OPS):
            raise HTTPException(status_code=403, detail="the ops pages are for the ops role")
        return base_context(*signed_in)

    def ops_action(request: Request, csrf: str) -> dict[str, Any]:
        who, nonce = require(request, Role.OPS)
        check_csrf(nonce, csrf)
        return base_context(who, nonce)

    add_ops_pages(router, service, ops, OpsPages(ops_page, ops_action, render, options.feed_silent_s))
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")


def _utc(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _safe_next(target: str) -> str:
    """Only a path inside the console (no open redirect to another site)."""
    return target if target.startswith("/console/") and not target.startswith("//") else "/console/"
