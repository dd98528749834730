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
    retry_slowly,
)


@pytest.mark.parametrize(("status", "ok", "retryable", "kind"), [
    (200, True, False, FailureKind.NONE),
    (202, True, False, FailureKind.NONE),
    (500, False, True, FailureKind.SERVER_ERROR),
    (503, False, True, FailureKind.SERVER_ERROR),
    (429, False, True, FailureKind.RATE_LIMITED),
    (400, False, False, FailureKind.CLIENT_ERROR),
    (404, False, False, FailureKind.CLIENT_ERROR),
    (408, False, True, FailureKind.RATE_LIMITED),  # the server gave up waiting for the request: never processed
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


READ_TIMEOUT = AttemptResult(False, True, FailureKind.TIMEOUT, detail="ReadTimeout", maybe_delivered=True)


@pytest.mark.parametrize(("result", "deduplicates", "reason"), [
    (READ_TIMEOUT, True, RetryReason.RETRY),  # webhook-id / dedup_key: a repeat is dropped by the receiver
    (READ_TIMEOUT, False, RetryReason.UNCERTAIN),  # chat: it may be posted already, never a blind re-send
    (AttemptResult(False, True, FailureKind.CONNECTION, detail="ConnectError"), False, RetryReason.RETRY),
])
def test_a_request_that_may_have_arrived_is_repeated_only_to_a_deduplicating_receiver(
        result: AttemptResult, deduplicates: bool, reason: RetryReason) -> None:
    assert next_retry(POLICY, 1, result, 0.5, deduplicates).reason == reason
    assert retry_slowly(SLOW, 7, result, 0.5, deduplicates, failing_for_s=10).reason == reason


SLOW = RetryPolicy(max_attempts=3, base_delay_s=1.0, factor=2.0, max_delay_s=30.0, max_retry_after_s=60.0,
                   deadline_s=600.0)


@pytest.mark.parametrize(("failing_for_s", "result", "reason", "delay"), [
    (10.0, FAIL_5XX, RetryReason.RETRY, 30.0),  # the same capped back-off as the quick attempts
    (590.0, FAIL_5XX, RetryReason.RETRY, 10.0),  # a wait never runs past the deadline
    (600.0, FAIL_5XX, RetryReason.DEADLINE_PASSED, 0.0),
    (900.0, AttemptResult.delivered(200), RetryReason.DELIVERED, 0.0),  # a late answer still counts
    (10.0, AttemptResult(False, False, FailureKind.CLIENT_ERROR, 400), RetryReason.PERMANENT_FAILURE, 0.0),
    (10.0, AttemptResult(False, True, FailureKind.RATE_LIMITED, 429, retry_after_s=45.0), RetryReason.RETRY, 45.0),
])
def test_retry_slowly_until_the_deadline(failing_for_s: float, result: AttemptResult, reason: RetryReason,
                                         delay: float) -> None:
    decision = retry_slowly(SLOW, 8, result, 1.0, True, failing_for_s)
    assert decision.reason == reason
    assert decision.delay_s == pytest.approx(delay)


def test_deadline_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="deadline_s"):
        RetryPolicy(deadline_s=-1)
