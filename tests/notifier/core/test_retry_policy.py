"""Retry policy: status classification, Retry-After parsing and bounded backoff (table-driven)."""

from __future__ import annotations

import pytest

from notifier.core.retry_policy import (
    AttemptResult,
    FailureKind,
    RetryPolicy,
    RetryReason,
    classify_status,
    next_retry,
    parse_retry_after,
)


@pytest.mark.parametrize(("status", "ok", "retryable", "kind"), [
    (200, True, False, FailureKind.NONE),
    (202, True, False, FailureKind.NONE),
    (500, False, True, FailureKind.SERVER_ERROR),
    (503, False, True, FailureKind.SERVER_ERROR),
    (429, False, True, FailureKind.RATE_LIMITED),
    (400, False, False, FailureKind.CLIENT_ERROR),
    (404, False, False, FailureKind.CLIENT_ERROR),
    (301, False, False, FailureKind.OTHER),
])
def test_classify_status(status: int, ok: bool, retryable: bool, kind: FailureKind) -> None:
    result = classify_status(status)
    assert (result.ok, result.retryable, result.kind) == (ok, retryable, kind)


@pytest.mark.parametrize(("value", "expected"), [
    ("3", 3.0), ("0", 0.0), (" 1.5 ", 1.5), ("", None), (None, None), ("soon", None),
    ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),  # 10 s after now below
])
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = 1445412480.0  # 2015-10-21 07:28:00 UTC
    assert parse_retry_after(value, now) == expected


POLICY = RetryPolicy(max_attempts=4, base_delay_s=1.0, factor=2.0, max_delay_s=3.0, max_retry_after_s=10.0)
FAIL_5XX = AttemptResult(False, True, FailureKind.SERVER_ERROR, 500)


@pytest.mark.parametrize(("attempt", "result", "jitter", "reason", "delay"), [
    (1, AttemptResult.delivered(200), 0.5, RetryReason.DELIVERED, 0.0),
    (1, FAIL_5XX, 1.0, RetryReason.RETRY, 1.0),
    (2, FAIL_5XX, 1.0, RetryReason.RETRY, 2.0),
    (3, FAIL_5XX, 1.0, RetryReason.RETRY, 3.0),  # capped by max_delay_s
    (3, FAIL_5XX, 0.5, RetryReason.RETRY, 1.5),  # full jitter
    (4, FAIL_5XX, 1.0, RetryReason.ATTEMPTS_EXHAUSTED, 0.0),  # bounded: never forever
    (1, AttemptResult(False, False, FailureKind.CLIENT_ERROR, 400), 1.0, RetryReason.PERMANENT_FAILURE, 0.0),
    (1, AttemptResult(False, True, FailureKind.RATE_LIMITED, 429, retry_after_s=7.0), 0.1, RetryReason.RETRY, 7.0),
    (1, AttemptResult(False, True, FailureKind.RATE_LIMITED, 429, retry_after_s=99.0), 0.1, RetryReason.RETRY, 10.0),
    (1, AttemptResult(False, True, FailureKind.TIMEOUT), 0.0, RetryReason.RETRY, 0.0),
])
def test_next_retry(attempt: int, result: AttemptResult, jitter: float, reason: RetryReason, delay: float) -> None:
    decision = next_retry(POLICY, attempt, result, jitter)
    assert decision.reason == reason
    assert decision.delay_s == pytest.approx(delay)
