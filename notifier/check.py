"""`sepsis-alert notify --check`: everything wrong with a notifier configuration at once, and where alerts go.

`problems(config)` reads every secret reference (naming each missing environment variable or unreadable file,
never a value) and checks every URL it can read (scheme, host, port). `dry_run(config)` walks the routing tree
with sample alerts, so a hospital's interface analyst sees which receivers and escalation tiers each level
reaches, and what a page, an update and a resolve do, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

from pydantic import SecretStr

from notifier.config import NotifierConfig
from notifier.core.paging import PageKind
from notifier.core.routing import match_routes
from notifier.integrations.base import SecretRef
from schemas.alert import Alert, AlertLevel, AlertTransition
from schemas.base import Location

__all__ = ["dry_run", "problems"]

_URL_FIELDS = ("url",)


def _refs(config: NotifierConfig) -> Iterator[tuple[str, str, SecretRef]]:
    for receiver in config.receivers:
        for name, value in receiver:
            if isinstance(value, SecretRef):
                yield receiver.name, name, value


def _url_problem(text: str) -> str | None:
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError as exc:
        return f"not a usable URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme or '(none)'!r} is not http or https"
    if not parts.hostname:
        return "no host"
    if port == 0:
        return "port 0"
    return None


def problems(config: NotifierConfig) -> list[str]:
    """Every problem found, one line each (empty: the configuration can run)."""
    found: list[str] = []
    for receiver, field, ref in _refs(config):
        where = f"receivers.{receiver}.{field}"
        try:
            value: SecretStr = ref.resolve()
        except ValueError as exc:
            found.append(f"{where}: {exc}")
            continue
        if field in _URL_FIELDS:
            issue = _url_problem(value.get_secret_value())
            if issue is not None:
                # a URL from env or file may carry a token in its path: only a literal is shown
                shown = f" {value.get_secret_value()!r}" if ref.value is not None and ref.env is None else ""
                found.append(f"{where}{shown}: {issue}")
    return found


def _sample(level: int, transition: AlertTransition, treated: bool) -> Alert:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Alert(patient_key="dry-run", alert_id="ep-dry-run-0000", episode_id="ep-dry-run", sequence=0,
                 level=AlertLevel(level), transition=transition, treatment_started=treated,
                 infection_suspected=treated, event_time=now, emitted_at=now,
                 location=Location(facility="F", unit="UNIT", bed="1"))


def dry_run(config: NotifierConfig) -> list[str]:
    """Where sample alerts go, one line per case: level, treatment, what the paging policy makes of it."""
    policies = config.policies()
    lines: list[str] = []
    cases = [(level, AlertTransition.OPENED, treated, PageKind.PAGE if level >= config.paging.min_level
              else PageKind.UPDATE) for level in (1, 2, 3, 4) for treated in (False, True)]
    cases += [(0, AlertTransition.RESOLVED, False, PageKind.RESOLVE), (2, AlertTransition.DE_ESCALATED, False,
                                                                      PageKind.UPDATE)]
    for level, transition, treated, kind in cases:
        targets = []
        for target in match_routes(config.route, _sample(level, transition, treated), kind):
            if target.escalation is not None:
                tiers = policies[target.escalation].tiers
                chain = " -> ".join(f"{t.receiver}" + (f" (+{t.delay_s:g} s unacknowledged)" if t.delay_s else "")
                                    for t in tiers)
                targets.append(f"{chain} [route {target.route}]")
            else:
                targets.append(f"{target.receiver} [route {target.route}]")
        case = f"level {level} {transition.value}{', antibiotics started' if treated else ''} -> {kind.value}"
        lines.append(f"{case}: {'; '.join(targets) if targets else 'nobody'}")
    p = config.paging
    lines.append(f"paging: pages from level {p.min_level}; again only at a level not paged in {p.lookback_h:g} h; "
                 f"at most {p.max_pages_per_24h} per 24 h and {p.max_pages_per_episode} per episode (a rise to "
                 f"level 4 exempt); held after an acknowledgement until a higher level or {p.ack_risk_multiple:g}x "
                 f"the risk")
    return lines
