"""A local stand-in for the pager, chat and webhook endpoints, with a page that shows what it received.

`sepsis-alert run` points every notifier receiver here, so a demo or a test sends no
traffic anywhere but 127.0.0.1. It accepts the notifier's four payload shapes on
POST (the first path segment names the kind, the rest is free):

- `/pagerduty/...`  PagerDuty Events API v2 (answers 202 like the real API)
- `/slack/...`      Slack incoming webhook (answers `ok`)
- `/teams/...`      Teams Workflows webhook, Adaptive Card (answers 202)
- `/webhook/...`    the generic signed webhook (verifies `X-Sepsis-Signature` when given the secret)

GET `/` is an auto-refreshing HTML table (time, receiver, level, transition, location,
scores, reasons); GET `/pages.json` returns the same as JSON. Only those fields are
kept: a page never shows a name or an identifier, and the raw body is not stored.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import json
import logging
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from sepsis_alert.ops.settings import is_loopback_host

__all__ = ["LocalReceiver", "Page", "kind_of", "page_from_payload", "pager_pages_per_episode", "pages_summary",
           "register", "verify_signature"]

_log = logging.getLogger(__name__)
_MAX_BODY_BYTES = 1 << 20
_KINDS = ("pagerduty", "slack", "teams", "webhook")


@dataclass(frozen=True, slots=True)
class Page:
    """What the receiver keeps of one delivery: no names, no identifiers, no raw body.

    `received_at` is processing time (Unix seconds) at the receiver.
    """

    received_at: float
    receiver: str
    kind: str
    action: str = ""
    level: str = ""
    transition: str = ""
    location: str = ""
    scores: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    episode_id: str = ""
    signature: str = "n/a"
    ack_url: str = ""


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _slack_plain(text: str) -> str:
    """Slack mrkdwn back to the text it shows: the three entities Slack asks senders to write; `&amp;` last so
    `&amp;lt;` stays the literal `&lt;` it was."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_TEAMS_ESCAPE = re.compile(r"\\(.)")


def _teams_plain(text: str) -> str:
    """Teams Markdown back to the text it shows: backslash escapes and the link-breaking zero-width space removed."""
    return _TEAMS_ESCAPE.sub(r"\1", text).replace("\u200b", "")


def _link(url: str) -> str:
    """Only http(s) links are kept: a `javascript:` URL in a received payload must not become a clickable link."""
    return url if url.lower().startswith(("https://", "http://")) else ""


def _score_line(name: Any, value: Any, band: Any = None) -> str:
    return f"{name}={value}" + (f" ({band})" if band else "")


def _from_webhook(body: dict[str, Any]) -> dict[str, Any]:
    level = _text(body.get("level"))
    if body.get("level_name"):
        level = f"{level} ({body['level_name']})"
    return {
        "action": _text(body.get("action")), "level": level, "transition": _text(body.get("transition")),
        "location": _text(body.get("location")), "episode_id": _text(body.get("episode_id")),
        "scores": [_score_line(s.get("name"), s.get("value"), s.get("band")) for s in body.get("scores") or []
                   if isinstance(s, dict)],
        "reasons": [_text(r) for r in body.get("reasons") or []], "ack_url": _text(body.get("ack_url")),
    }


def _from_pagerduty(body: dict[str, Any]) -> dict[str, Any]:
    payload = body.get("payload") or {}
    details = payload.get("custom_details") or {}
    scores = details.get("scores") or {}
    level = _text(details.get("level"))
    if payload.get("severity"):
        level = f"{level} ({payload['severity']})" if level else _text(payload["severity"])
    links = body.get("links") or []
    return {
        "action": _text(body.get("event_action")), "level": level, "transition": _text(body.get("event_action")),
        "location": _text(details.get("location")), "episode_id": _text(body.get("dedup_key")),
        "scores": [_score_line(k, v) for k, v in scores.items()] if isinstance(scores, dict) else [],
        "reasons": [_text(r) for r in details.get("reasons") or []],
        "ack_url": _text(links[0].get("href")) if links and isinstance(links[0], dict) else "",
    }


def _section_lines(text: str, heading: str) -> list[str]:
    if not text.startswith(heading):
        return []
    return [line.lstrip("•- ").strip() for line in text.splitlines()[1:] if line.strip()]


def _from_slack(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"transition": _slack_plain(_text(body.get("text"))), "scores": [], "reasons": []}
    for block in body.get("blocks") or []:
        if block.get("type") == "header":  # plain_text: the title without the notification's reason
            out["transition"] = _text((block.get("text") or {}).get("text"))
        for item in block.get("fields") or []:
            label, _, value = _text(item.get("text")).partition("\n")
            if label == "*Location*":
                out["location"] = _slack_plain(value)
            elif label == "*Level*":
                out["level"] = _slack_plain(value)
        text = _text((block.get("text") or {}).get("text")) if block.get("type") == "section" else ""
        out["scores"] += [_slack_plain(line) for line in _section_lines(text, "*Scores*")]
        out["reasons"] += [_slack_plain(line) for line in _section_lines(text, "*Why*")]
        for element in block.get("elements") or []:
            if element.get("action_id") == "ack":
                out["ack_url"] = _text(element.get("url"))
    return out


def _from_teams(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"scores": [], "reasons": []}
    for attachment in body.get("attachments") or []:
        card = attachment.get("content") or {}
        for element in card.get("body") or []:
            if element.get("type") == "FactSet":
                for fact in element.get("facts") or []:
                    title, value = _teams_plain(_text(fact.get("title"))), _teams_plain(_text(fact.get("value")))
                    if title == "Location":
                        out["location"] = value
                    elif title == "Level":
                        out["level"] = value
                    elif title != "MRN":
                        out["scores"].append(f"{title}={value}")
            elif element.get("type") == "TextBlock":
                text = _teams_plain(_text(element.get("text")))
                if element.get("weight") == "Bolder":
                    out["transition"] = text
                elif text.startswith("- "):
                    out["reasons"].append(text[2:])
        for action in card.get("actions") or []:
            out["ack_url"] = _text(action.get("url"))
    return out


_PARSERS = {"webhook": _from_webhook, "pagerduty": _from_pagerduty, "slack": _from_slack, "teams": _from_teams}


def page_from_payload(kind: str, receiver: str, body: dict[str, Any], received_at: float,
                      signature: str = "n/a") -> Page:
    """The display fields of one delivery (pure). Unknown kinds keep only a `text` field if any."""
    parser = _PARSERS.get(kind)
    fields: dict[str, Any] = parser(body) if parser else {"transition": _text(body.get("text"))[:200]}
    if "ack_url" in fields:
        fields["ack_url"] = _link(fields["ack_url"])
    return Page(received_at=received_at, receiver=receiver, kind=kind, signature=signature,
                **{k: v for k, v in fields.items() if v})


def pager_pages_per_episode(pages: Iterable[Page]) -> Counter[str]:
    """Pages per episode at the PagerDuty receivers (trigger events; the dedup key is the episode id): what the
    rapid-response pager of the `make run` routing got about each episode."""
    return Counter(p.episode_id for p in pages if p.kind == "pagerduty" and p.action == "trigger" and p.episode_id)


def pages_summary(pages: Iterable[Page]) -> str:
    """One line for the terminal: episodes paged and pages per episode at the pager."""
    per_episode = pager_pages_per_episode(pages)
    if not per_episode:
        return "rapid-response pager: no page"
    counts = sorted(per_episode.values())
    histogram = ", ".join(f"{n} page{'s' if n > 1 else ''}: {c}" for n, c in sorted(Counter(counts).items()))
    return (f"rapid-response pager: {sum(counts)} pages about {len(counts)} episodes; per episode max "
            f"{counts[-1]}, median {counts[len(counts) // 2]} ({histogram} episodes)")


def kind_of(path: str, body: dict[str, Any]) -> str:
    """The payload kind: from the first path segment when it names one, else sniffed from the body's keys."""
    first = path.split("/", 1)[0]
    if first in _KINDS:
        return first
    if "event_action" in body or "routing_key" in body:
        return "pagerduty"
    if "blocks" in body:
        return "slack"
    if "attachments" in body:
        return "teams"
    if "episode_id" in body or "alert_id" in body:
        return "webhook"
    return "unknown"


def verify_signature(header: str, body: bytes, secret: bytes, now_s: float, tolerance_s: float = 300.0) -> str:
    """"valid", "bad", "expired" or "malformed" for an `X-Sepsis-Signature: t=<s>,v1=<hex>` header.

    HMAC-SHA256 over `<t>.<raw body>`, compared in constant time; `now_s` is Unix seconds.
    """
    parts = dict(p.strip().partition("=")[::2] for p in header.split(",") if "=" in p)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not given:
        return "malformed"
    expected = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        return "bad"
    return "valid" if abs(now_s - int(stamp)) <= tolerance_s else "expired"


class _ReceiverHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # the stock listen backlog (5) overflows when the notifier opens its concurrent connections at once
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: LocalReceiver) -> None:
        self.owner = owner
        super().__init__(address, _ReceiverHandler)


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: _ReceiverHTTPServer
    timeout = 10.0
    server_version = "sepsis-local-receiver"
    sys_version = ""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY_BYTES:
            self._reply(413, b"too large\n", "text/plain")
            return
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._reply(400, b"body is not JSON\n", "text/plain")
            return
        path = self.path.split("?", 1)[0].strip("/")
        kind = kind_of(path, body if isinstance(body, dict) else {})
        owner = self.server.owner
        signature = "n/a"
        header = self.headers.get("X-Sepsis-Signature")
        if header is not None:
            signature = (verify_signature(header, raw, owner.webhook_secret, time.time())
                         if owner.webhook_secret else "unchecked")
        page = page_from_payload(kind, "/" + path, body if isinstance(body, dict) else {}, time.time(), signature)
        owner.add(page)
        if kind == "pagerduty":
            reply = {"status": "success", "message": "Event processed", "dedup_key": page.episode_id}
            self._reply(202, json.dumps(reply).encode(), "application/json")
        elif kind == "slack":
            self._reply(200, b"ok", "text/plain")
        else:
            self._reply(202 if kind == "teams" else 200, b'{"ok": true}', "application/json")

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        owner = self.server.owner
        if path == "/pages.json":
            self._reply(200, json.dumps([asdict(p) for p in owner.pages()]).encode(), "application/json")
        elif path in ("/", "/index.html"):
            self._reply(200, render_html(owner.pages(), owner.refresh_s).encode(), "text/html; charset=utf-8")
        elif path == "/healthz":
            self._reply(200, b"ok\n", "text/plain")
        else:
            self._reply(404, b"not found\n", "text/plain")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        _log.debug("receiver request %s", format % args)


def render_html(pages: list[Page], refresh_s: int = 3) -> str:
    """The auto-refreshing table, newest first; every value HTML-escaped."""
    rows = []
    for page in reversed(pages):
        stamp = time.strftime("%H:%M:%S", time.localtime(page.received_at))
        ack = f'<a href="{html.escape(page.ack_url)}">ack</a>' if page.ack_url else ""
        cells = [stamp, page.receiver, page.level, page.transition or page.action, page.location,
                 "<br>".join(html.escape(s) for s in page.scores), "<br>".join(html.escape(r) for r in page.reasons)]
        escaped = [html.escape(c) if i < 5 else c for i, c in enumerate(cells)]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in escaped) + f"<td>{ack}</td></tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta http-equiv='refresh' content='{refresh_s}'><title>sepsis-alert local receiver</title>"
        "<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:14px}th{background:#eee}</style>"
        f"</head><body><h1>Pages received: {len(pages)}</h1>"
        "<p>Local stand-in for pager, chat and webhook receivers. Newest first; refreshes every "
        f"{refresh_s} s. Names and identifiers are never shown.</p>"
        "<table><tr><th>time</th><th>receiver</th><th>level</th><th>transition</th><th>location</th>"
        "<th>scores</th><th>reasons</th><th></th></tr>" + "".join(rows) + "</table></body></html>"
    )


class LocalReceiver:
    """The receiver's HTTP server (daemon thread) and the pages it has received (newest kept, bounded)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, webhook_secret: str | None = None,
                 max_pages: int = 2000, journal: Path | None = None, refresh_s: int = 3) -> None:
        """`journal`: optional JSON-lines file that gets every page too (for tests and later inspection)."""
        self.webhook_secret = webhook_secret.encode() if webhook_secret else b""
        self.refresh_s = refresh_s
        self._pages: deque[Page] = deque(maxlen=max_pages)
        self._lock = threading.Lock()
        self._journal = journal
        self._server = _ReceiverHTTPServer((host, port), self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="local-receiver", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:8765."""
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def add(self, page: Page) -> None:
        """Keep one page (and append it to the journal file, if any)."""
        with self._lock:
            self._pages.append(page)
            if self._journal is not None:
                with self._journal.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(asdict(page)) + "\n")

    def pages(self) -> list[Page]:
        """Pages received so far, oldest first."""
        with self._lock:
            return list(self._pages)

    def stop(self) -> None:
        """Stop serving and release the port. Idempotent."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5.0)
        self._server.server_close()

    def __enter__(self) -> LocalReceiver:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _run(args: argparse.Namespace) -> int:
    if not is_loopback_host(args.host):  # no authentication: a development stand-in stays on this machine
        raise ValueError(f"--host {args.host!r} is not a loopback address: the local receiver has no "
                         f"authentication and shows what it received; bind 127.0.0.1")
    receiver = LocalReceiver(args.host, args.port, webhook_secret=args.webhook_secret)
    print(f"local receiver on {receiver.url}/ (POST /pagerduty/..., /slack/..., /teams/..., /webhook/...)",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `sepsis-alert local-receiver` (the receiver alone; `sepsis-alert run` starts it by itself)."""
    parser = subparsers.add_parser("local-receiver", help="run the local pager/chat/webhook stand-in alone",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    parser.add_argument("--webhook-secret", default=None, help="shared HMAC secret to verify generic webhooks")
    parser.set_defaults(func=_run)
