"""What every integration shares: the request it formats, the POST, and the retryable/permanent verdict.

An integration only formats and posts. Retries, throttling, fallback and
logging belong to the pipeline stages. Error details never carry the URL (it
holds the token) or the body (it holds PHI): only the status or the exception type.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from notifier.core.grouping import GroupPolicy
from notifier.core.model import Notification, NotifyAction
from notifier.core.phi import LOCATION_UNKNOWN, LOCATION_WITHHELD, AlertView, PhiPolicy
from notifier.core.retry_policy import AttemptResult, FailureKind, classify_status, parse_retry_after
from sepsis_alert.secret_files import read_secret_file

__all__ = [
    "GroupingIntegration",
    "Integration",
    "OutgoingRequest",
    "ReceiverBase",
    "SecretRef",
    "group_title",
    "http_client",
    "post_request",
    "supports_groups",
]


class SecretRef(BaseModel):
    """Where a URL or key comes from: exactly one of `env` (variable name), `file` (secret file) or `value`.

    `value` is for local development and tests; deployments should use `env` or
    `file` (Kubernetes / Docker secrets). The resolved value is a SecretStr.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = Field(default=None, description="environment variable holding the value")
    file: Path | None = Field(default=None, description="file holding the value (trailing newline stripped)")
    value: SecretStr | None = Field(default=None, description="the value itself (local use only)")

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        given = [name for name in ("env", "file", "value") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of env, file, value (got {given or 'none'})")
        return self

    def resolve(self) -> SecretStr:
        """Read the value (environment or file). Raises ValueError naming the source, never the value."""
        if self.value is not None:
            return self.value
        if self.env is not None:
            found = os.environ.get(self.env)
            if not found:
                raise ValueError(f"environment variable {self.env} is not set or empty")
            return SecretStr(found.strip())
        assert self.file is not None
        return read_secret_file(self.file, "secret file")


class ReceiverBase(BaseModel):
    """Settings every receiver has."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                      description="unique receiver name, referenced by routes, escalation tiers and fallback_receiver")
    phi: PhiPolicy = Field(default_factory=PhiPolicy, description="what messages to this receiver may carry")
    timeout_s: float = Field(default=5.0, gt=0, le=60, description=(
        "seconds for each step of one HTTP attempt (a pooled connection, connecting, sending, each read); the whole "
        "attempt ends after ATTEMPT_TIMEOUTS times this, however slowly an answer trickles in"))
    rate_per_s: float | None = Field(default=None, gt=0, description="throttle; None = integration default")
    burst: float | None = Field(default=None, ge=1, description="token-bucket size; None = integration default")
    group: GroupPolicy | None = Field(
        default=None, description="combine notifications that would wait for the rate limit into one message "
                                  "listing each alert (notifier.core.grouping); None = one message per alert; "
                                  "chat and webhook receivers only")


@dataclass(frozen=True)
class OutgoingRequest:
    """A formatted POST. `url` is a secret; never log it."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Integration(Protocol):
    """A receiver's integration: formats a notification and posts it."""

    name: str
    kind: str
    phi: PhiPolicy
    timeout_s: float
    default_rate_per_s: float | None
    default_burst: float
    deduplicates: bool
    """Whether the receiver drops a repeated request by its idempotency key (PagerDuty `dedup_key`, a signed
    webhook's `webhook-id`): only then is a request that may have arrived sent again."""

    def format(self, item: Notification, view: AlertView, now_s: float) -> OutgoingRequest:
        """The request for `item`, built only from `view` (PHI policy applied) and the action."""
        ...

    def secrets(self) -> list[str]:
        """Every secret value this integration holds (for the log redactor)."""
        ...


class GroupingIntegration(Integration, Protocol):
    """An integration that can put several alerts in one message (chat and webhook; never PagerDuty)."""

    def format_group(self, item: Notification, views: list[AlertView], now_s: float) -> OutgoingRequest:
        """The ONE request for the group `item` (`item.group` members, same action and tier); `views[i]` is
        member i's PHI-limited view with its own acknowledge link."""
        ...


def supports_groups(integration: Integration) -> bool:
    """Whether `integration` can format a group message."""
    return callable(getattr(integration, "format_group", None))


def chat_title(item: Notification, view: AlertView) -> str:
    """One-line title of a chat message (Slack, Teams): what happened, where, at which tier."""
    if item.action == NotifyAction.RESOLVE:
        return f"Resolved - {view.location}"
    if item.action == NotifyAction.ACKNOWLEDGE:
        return f"Acknowledged - {view.location}"
    prefix = f"[tier {item.tier + 1}] " if item.tier else ""
    return prefix + view.headline()


def group_title(item: Notification, views: list[AlertView]) -> str:
    """One-line title of a group message: how many alerts, the highest level shown, the shared location (only
    when every member's view shows the same one), the tier."""
    count = len(views)
    if item.action == NotifyAction.RESOLVE:
        what = f"{count} sepsis alerts resolved"
    elif item.action == NotifyAction.ACKNOWLEDGE:
        what = f"{count} sepsis alerts acknowledged"
    else:
        shown = [v for v in views if v.level is not None]
        highest = max(shown, key=lambda v: v.level or 0) if shown else None
        what = f"{count} sepsis alerts" + (f" (highest {(highest.level_name or '').upper()})" if highest else "")
    locations = {v.location for v in views}
    shared = len(locations) == 1 and views[0].location not in (LOCATION_WITHHELD, LOCATION_UNKNOWN)
    where = f" - {views[0].location}" if shared else ""
    prefix = f"[tier {item.tier + 1}] " if item.tier and item.action == NotifyAction.TRIGGER else ""
    return prefix + what + where


HTTP_KEEPALIVE_EXPIRY_S = 4.0
"""Idle keep-alive connections are closed after this many seconds: below the idle timeout of common servers and
load balancers (5 s and up), so a request is rarely written to a connection the receiver is just closing (which
would leave its delivery uncertain)."""

ATTEMPT_TIMEOUTS = 3
"""One attempt ends after this many `timeout_s`: httpx's timeouts are per step (waiting for a pooled connection,
connecting, each write and each read), so a receiver trickling its answer a byte at a time would hold an attempt,
and the alerts behind it, without end. Three: the pool wait and the connect (each up to `timeout_s`, failing as
not sent) always end before it, so a request it cuts off had left, and its delivery is uncertain."""

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
"""Raised before any byte of the request reached the receiver: always safe to send again."""


def http_client(max_connections: int) -> httpx.AsyncClient:
    """The notifier's HTTP client: stock httpx with its own connection pool.

    `trust_env` (httpx's default, kept on purpose): HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY and
    SSL_CERT_FILE / SSL_CERT_DIR are honoured, as hospital networks send outbound traffic through a proxy.
    No redirects (a webhook endpoint must not redirect) and no automatic retries: whether a POST may be sent
    again is decided per receiver (notifier.core.retry_policy).
    """
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections,
                          keepalive_expiry=HTTP_KEEPALIVE_EXPIRY_S)
    return httpx.AsyncClient(limits=limits, trust_env=True, follow_redirects=False)


async def post_request(client: httpx.AsyncClient, request: OutgoingRequest, timeout_s: float,
                       now_s: float) -> AttemptResult:
    """POST and classify: 2xx delivered; 5xx / 408 / timeout / connection error retryable; 429 with Retry-After;
    other 4xx permanent. An error after the request went out (read timeout, connection reset or closed before the
    answer) is marked `maybe_delivered`. `now_s` (wall-clock epoch s) is only used to read an HTTP-date Retry-After.
    """
    try:
        async with asyncio.timeout(ATTEMPT_TIMEOUTS * timeout_s):
            response = await client.post(request.url, content=request.body, headers=request.headers,
                                         timeout=timeout_s)
    except TimeoutError:  # the whole-attempt limit (ATTEMPT_TIMEOUTS): the request had left
        return AttemptResult(False, True, FailureKind.TIMEOUT, detail="AttemptTimeout", maybe_delivered=True)
    except _NOT_SENT as exc:
        kind = FailureKind.TIMEOUT if isinstance(exc, httpx.TimeoutException) else FailureKind.CONNECTION
        return AttemptResult(False, True, kind, detail=type(exc).__name__)
    except httpx.TimeoutException as exc:  # write or read timeout: the receiver may have the whole request
        return AttemptResult(False, True, FailureKind.TIMEOUT, detail=type(exc).__name__, maybe_delivered=True)
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:  # reset or closed after the request went out
        return AttemptResult(False, True, FailureKind.CONNECTION, detail=type(exc).__name__, maybe_delivered=True)
    except httpx.HTTPError as exc:  # unsupported scheme, a malformed request: sending it again cannot help
        return AttemptResult(False, False, FailureKind.OTHER, detail=type(exc).__name__)
    status, retry_after_header = response.status_code, response.headers.get("retry-after")
    retry_after = parse_retry_after(retry_after_header, now_s) if retry_after_header is not None else None
    return classify_status(status, retry_after)
