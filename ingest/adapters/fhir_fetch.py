"""Reads the resources an id-only Subscription notification names from the sender's FHIR server (httpx).

Only URLs under the configured base URLs are ever requested (the pure
`ingest.core.fhir.id_only.fetch_targets` decides that). Any answer that leaves
the data unknown (timeout, connection error, 5xx, 429, 401/403 from a wrong
token) raises FetchUnavailable: the endpoint then answers the notification with
503 + Retry-After, so the sender retries instead of the event being dropped.
404/410 mean the resource is gone: there is nothing to ingest for it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import orjson

from ingest.core.errors import InputRejected
from ingest.core.fhir.id_only import FetchTarget

__all__ = ["FetchUnavailable", "ResourceFetcher"]

log = logging.getLogger(__name__)

_GONE = (404, 410)


class FetchUnavailable(Exception):
    """The source FHIR server could not be read now; the notification must be retried later."""


class ResourceFetcher:
    """GETs FHIR resources with a bearer token, a timeout, a size limit and bounded concurrency."""

    def __init__(self, token: str | None, *, timeout_s: float, max_bytes: int, concurrency: int,
                 verify: bool | str = True) -> None:
        headers = {"Accept": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout_s, verify=verify,
                                         follow_redirects=False)
        self._max_bytes = max_bytes
        self._slots = asyncio.Semaphore(concurrency)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch_all(self, targets: list[FetchTarget]) -> dict[str, dict[str, Any] | None]:
        """{url: resource, or None when gone}. Raises FetchUnavailable or InputRejected (not a JSON object)."""
        results = await asyncio.gather(*(self._fetch(t) for t in targets), return_exceptions=True)
        out: dict[str, dict[str, Any] | None] = {}
        for target, result in zip(targets, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            out[target.url] = result
        return out

    async def _fetch(self, target: FetchTarget) -> dict[str, Any] | None:
        async with self._slots:
            try:
                async with self._client.stream("GET", target.url) as response:
                    status = response.status_code
                    body = bytearray()
                    if 200 <= status < 300:
                        async for chunk in response.aiter_bytes():
                            body += chunk
                            if len(body) > self._max_bytes:
                                raise InputRejected(f"the resource at {target.url} is over {self._max_bytes} bytes",
                                                    location=target.location, code="fetch_too_large")
            except httpx.HTTPError as exc:
                # The URL came from a configured base, so naming it in logs leaks no secret; the token is a header.
                log.warning("id-only fetch failed: %s (%s)", target.url, type(exc).__name__)
                raise FetchUnavailable(f"could not read {target.url}: {type(exc).__name__}") from None
        if status in _GONE:
            log.info("id-only fetch: %s is gone (%d); nothing to ingest", target.url, status)
            return None
        if not 200 <= status < 300:
            log.warning("id-only fetch: %s answered %d", target.url, status)
            raise FetchUnavailable(f"{target.url} answered HTTP {status}")
        try:
            resource = orjson.loads(bytes(body))
        except orjson.JSONDecodeError:
            raise InputRejected(f"the resource at {target.url} is not JSON", location=target.location,
                                code="fetch_invalid") from None
        if not isinstance(resource, dict):
            raise InputRejected(f"the resource at {target.url} is not a JSON object", location=target.location,
                                code="fetch_invalid")
        return resource
