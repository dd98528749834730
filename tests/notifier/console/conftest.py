"""A real notifier (NotifierApp on the session broker, HTTP on 127.0.0.1) with console accounts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from devstack.broker import free_port
from notifier.adapters.kafka_state import NotifierTopics
from notifier.app import NotifierApp
from notifier.config import NotifierSettings, parse_config
from notifier.console.accounts import Role, UserStore
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all
from tests.notifier.adapters.kafka_harness import API_TOKEN, LINK_SECRET
from tests.notifier.helpers import Receiver, running_receiver

PASSWORD = "console-test-password"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def users_file(tmp_path: Path) -> Path:
    """Accounts: `responder`, `viewer` and `ops`, each with PASSWORD."""
    path = tmp_path / "console-users.json"
    store = UserStore(path)
    for role in Role:
        store.add(role.label, PASSWORD, role)
    return path


def console_app(kafka: KafkaSettings, topics: NotifierTopics, doc: dict[str, Any], users: Path | None,
                **console: Any) -> NotifierApp:
    port = free_port()
    settings = NotifierSettings(
        consumer_group=f"console-{uuid.uuid4().hex[:8]}", api_port=port, public_base_url=f"http://127.0.0.1:{port}",
        link_secret=SecretStr(LINK_SECRET), api_token=SecretStr(API_TOKEN), poll_timeout_ms=50,
        console_users_file=users, **console)
    return NotifierApp(settings, parse_config(doc), kafka, topics=topics)


@contextlib.asynccontextmanager
async def running(app: NotifierApp) -> AsyncIterator[NotifierApp]:
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def with_receiver(scenario: Callable[[Receiver], Coroutine[Any, Any, None]]) -> None:
    """Run `scenario` with a real loopback receiver standing in for every pager and chat."""
    with running_receiver() as rx:
        asyncio.run(scenario(rx))


def acks_written(kafka: KafkaSettings, topic: str) -> list[dict[str, Any]]:
    """Every event of the acks topic, decoded."""
    return [json.loads(r.value) for r in read_all(kafka, topic)]


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, user: str, password: str = PASSWORD) -> httpx.Response:
    """The browser's way: fetch the sign-in form (its cookie and token), post it."""
    form = await client.get("/console/login")
    assert form.status_code == 200
    return await client.post("/console/login", data={"username": user, "password": password,
                                                     "csrf": csrf_of(form.text), "next": "/console/"})
