"""Retry decisions: which failures are worth another attempt, and how long to wait (pure).

- 2xx: delivered. 5xx, 408, timeouts and connection errors: retry. 429: retry
  after the server's Retry-After (capped). Any other 4xx: fail at once (the
  request itself is wrong; sending it again cannot help).
- A failure after the request was sent (no answer read: read timeout, reset
  mid-response) may have reached the receiver. It is retried only when the
  receiver drops repeats by key (PagerDuty `dedup_key`, our `webhook-id`);
  for chat it ends as "delivery uncertain", never as a blind re-send.
- Backoff is exponential with full jitter, bounded by `max_delay_s`. The first
  `max_attempts` are the quick attempts; when they fail the caller tells the
  fallback receiver and keeps retrying in the background (`retry_slowly`) until
  `deadline_s` after the first failure. Never retry forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum

__all__ = [
    "AttemptResult",
    "FailureKind",
    "RetryDecision",
    "RetryPolicy",
    "RetryReason",
    "backoff_s",
    "classify_status",
    "next_retry",
    "parse_retry_after",
    "retry_slowly",
]


class FailureKind(StrEnum):
    """Why an attempt failed; a metric label."""

    NONE = "none"
    SERVER_ERROR = "server_error"  # 5xx
    RATE_LIMITED = "rate_limited"  # 429
    CLIENT_ERROR = "client_error"  # other 4xx: permanent
    TIMEOUT = "timeout"  # connect timeouts too; `maybe_delivered` tells them apart from a read timeout
    CONNECTION = "connection"  # refused, reset, DNS, proxy refused
    OTHER = "other"  # unexpected status (1xx/3xx) or a bug in formatting: permanent


@dataclass(frozen=True)
class AttemptResult:
    """What one delivery attempt returned: the integration's whole answer."""

    ok: bool
    retryable: bool
    kind: FailureKind = FailureKind.NONE
    status: int | None = None
    retry_after_s: float | None = None
    detail: str = ""
    maybe_delivered: bool = False
    """The request was sent and no answer was read: the receiver may have acted on it."""

    @classmethod
    def delivered(cls, status: int) -> AttemptResult:
        return cls(ok=True, retryable=False, status=status)


def classify_status(status: int, retry_after_s: float | None = None) -> AttemptResult:
    """Sort an HTTP status into delivered / retry / fail-now."""
    if 200 <= status < 300:
        return AttemptResult.delivered(status)
    if status in (408, 429):
        return AttemptResult(False, True, FailureKind.RATE_LIMITED, status, retry_after_s, f"HTTP {status}")
    if 500 <= status < 600:
        return AttemptResult(False, True, FailureKind.SERVER_ERROR, status, retry_after_s, f"HTTP {status}")
    if 400 <= status < 500:
        return AttemptResult(False, False, FailureKind.CLIENT_ERROR, status, None, f"HTTP {status}")
    return AttemptResult(False, False, FailureKind.OTHER, status, None, f"unexpected HTTP {status}")


def parse_retry_after(value: str | None, now_s: float) -> float | None:
    """Retry-After as seconds to wait: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None when unusable.

    `now_s` is wall-clock epoch seconds, needed only for the date form.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now_s)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: attempt n (1-based) waits up to base * factor**(n-1), capped, with jitter."""

    max_attempts: int = 5
    base_delay_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 30.0
    max_retry_after_s: float = 60.0
    deadline_s: float = 0.0
    """How long after the quick attempts failed the background retries go on (0 = none)."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1 (got {self.max_attempts!r})")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.factor < 1 or self.deadline_s < 0:
            raise ValueError("base_delay_s, max_delay_s and deadline_s must be >= 0 and factor >= 1")


class RetryReason(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    PERMANENT_FAILURE = "permanent_failure"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    UNCERTAIN = "uncertain"  # may have reached a receiver that cannot drop a repeat: not re-sent
    DEADLINE_PASSED = "deadline_passed"


@dataclass(frozen=True)
class RetryDecision:
    reason: RetryReason
    delay_s: float = 0.0

    @property
    def retry(self) -> bool:
        return self.reason == RetryReason.RETRY


def backoff_s(policy: RetryPolicy, attempt: int, jitter: float, retry_after_s: float | None) -> float:
    """The wait after attempt number `attempt` (1-based): full jitter under the exponential cap; a
    Retry-After is a floor, capped by `max_retry_after_s`."""
    cap = min(policy.max_delay_s, policy.base_delay_s * policy.factor ** min(attempt - 1, 64))
    delay = cap * min(max(jitter, 0.0), 1.0)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, policy.max_retry_after_s))
    return delay


def _stop_reason(result: AttemptResult, deduplicates: bool) -> RetryReason | None:
    if result.ok:
        return RetryReason.DELIVERED
    if result.maybe_delivered and not deduplicates:
        return RetryReason.UNCERTAIN
    if not result.retryable:
        return RetryReason.PERMANENT_FAILURE
    return None


def next_retry(policy: RetryPolicy, attempt: int, result: AttemptResult, jitter: float,
               deduplicates: bool = True) -> RetryDecision:
    """After quick attempt number `attempt` (1-based) returned `result`, retry or stop?

    `jitter` is a random number in [0, 1) supplied by the caller ("full jitter":
    the wait is uniform between 0 and the exponential cap, so that replicas that
    failed together do not retry together). A 429's Retry-After is honoured as
    a floor, capped by `max_retry_after_s`. `deduplicates`: whether the receiver
    drops a repeated request by its idempotency key.
    """
    stop = _stop_reason(result, deduplicates)
    if stop is not None:
        return RetryDecision(stop)
    if attempt >= policy.max_attempts:
        return RetryDecision(RetryReason.ATTEMPTS_EXHAUSTED)
    return RetryDecision(RetryReason.RETRY, backoff_s(policy, attempt, jitter, result.retry_after_s))


def retry_slowly(policy: RetryPolicy, attempt: int, result: AttemptResult, jitter: float, deduplicates: bool,
                 failing_for_s: float) -> RetryDecision:
    """The background retries after the quick ones: the same back-off (continuing from `attempt`), until
    `deadline_s` after the first failure (`failing_for_s` ago); a wait never runs past the deadline."""
    stop = _stop_reason(result, deduplicates)
    if stop is not None:
        return RetryDecision(stop)
    left_s = policy.deadline_s - failing_for_s
    if left_s <= 0:
        return RetryDecision(RetryReason.DEADLINE_PASSED)
    return RetryDecision(RetryReason.RETRY, min(left_s, backoff_s(policy, attempt, jitter, result.retry_after_s)))
