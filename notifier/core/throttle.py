"""Per-receiver token buckets: how long to wait before the next message may go out.

Slack incoming webhooks allow about one message per second per channel (short
bursts tolerated); PagerDuty Events API v2 about 120 events per minute per
integration key. Pure arithmetic; time (monotonic seconds) is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TokenBucket", "take_token"]


@dataclass(frozen=True)
class TokenBucket:
    """`rate_per_s` tokens added per second up to `burst`; `tokens` as of `updated_s` (monotonic seconds)."""

    rate_per_s: float
    burst: float
    tokens: float
    updated_s: float

    @classmethod
    def full(cls, rate_per_s: float, burst: float, now_s: float) -> TokenBucket:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError(f"token bucket needs rate_per_s > 0 and burst >= 1 (got {rate_per_s!r}, {burst!r})")
        return cls(rate_per_s=rate_per_s, burst=burst, tokens=burst, updated_s=now_s)


def take_token(bucket: TokenBucket, now_s: float) -> tuple[TokenBucket, float]:
    """Reserve one token. Returns the new bucket and the wait in seconds before sending (0 when a token is free).

    The token is reserved even when the caller must wait, so concurrent senders
    queue up behind each other instead of all waking at once.
    """
    elapsed = max(0.0, now_s - bucket.updated_s)
    tokens = min(bucket.burst, bucket.tokens + elapsed * bucket.rate_per_s) - 1.0
    wait_s = 0.0 if tokens >= 0 else -tokens / bucket.rate_per_s
    return TokenBucket(bucket.rate_per_s, bucket.burst, tokens, max(now_s, bucket.updated_s)), wait_s
