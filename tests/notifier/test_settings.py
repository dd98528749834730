"""NotifierSettings: safe defaults off loopback, secrets from files, topic names from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from notifier.adapters.kafka_state import NotifierTopics
from notifier.config import DEV_LINK_SECRET, NotifierSettings, NotifierTopicSettings, is_loopback_host
from schemas.topics import Topics

TOKEN = "t0ken-" + "x" * 26
LINK = "l1nk-" + "y" * 27


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SEPSIS_NOTIFIER_* from the developer's shell may change what these tests see."""
    import os

    for name in list(os.environ):
        if name.startswith("SEPSIS_NOTIFIER_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost"])
def test_loopback_hosts_keep_the_local_defaults(host: str) -> None:
    settings = NotifierSettings(api_host=host)
    assert settings.api_token is None
    assert settings.link_secret.get_secret_value() == DEV_LINK_SECRET


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "notifier.hospital.internal", ""])
def test_non_loopback_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback_host(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "notifier.hospital.internal"])
def test_public_address_without_a_token_is_a_start_up_error(host: str) -> None:
    with pytest.raises(ValidationError, match="api_token: required because api_host"):
        NotifierSettings(api_host=host, link_secret=SecretStr(LINK))


def test_public_address_refuses_the_shipped_link_secret_and_says_how_to_fix_it() -> None:
    with pytest.raises(ValidationError) as caught:
        NotifierSettings(api_host="0.0.0.0", api_token=SecretStr(TOKEN))
    message = str(caught.value)
    assert "link_secret: the shipped development secret is refused" in message
    assert "SEPSIS_NOTIFIER_LINK_SECRET_FILE" in message and "token_urlsafe" in message
    assert DEV_LINK_SECRET not in message


def test_start_up_errors_never_show_the_raw_input(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model-level error would print every input, env secrets included, without hide_input_in_errors."""
    monkeypatch.setenv("SEPSIS_NOTIFIER_API_HOST", "0.0.0.0")
    monkeypatch.setenv("SEPSIS_NOTIFIER_API_TOKEN", TOKEN)
    with pytest.raises(ValidationError) as caught:
        NotifierSettings()
    assert TOKEN not in str(caught.value) and TOKEN[-10:] not in str(caught.value)


@pytest.mark.parametrize(("token", "link", "bad"), [("short", LINK, "api_token"), (TOKEN, "short", "link_secret")])
def test_public_address_refuses_short_secrets(token: str, link: str, bad: str) -> None:
    with pytest.raises(ValidationError, match=f"{bad}: shorter than 16 characters"):
        NotifierSettings(api_host="0.0.0.0", api_token=SecretStr(token), link_secret=SecretStr(link))


def test_public_address_with_real_secrets_starts() -> None:
    settings = NotifierSettings(api_host="0.0.0.0", api_token=SecretStr(TOKEN), link_secret=SecretStr(LINK))
    assert settings.api_host == "0.0.0.0"
    assert TOKEN not in repr(settings) and LINK not in repr(settings)


def test_public_address_from_the_environment_with_secret_files(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The deploy/ manifests set API_HOST=0.0.0.0 and mount the two secrets as files."""
    (tmp_path / "token").write_text(f"  {TOKEN}\n")
    (tmp_path / "link").write_text(f"{LINK}\n")
    monkeypatch.setenv("SEPSIS_NOTIFIER_API_HOST", "0.0.0.0")
    monkeypatch.setenv("SEPSIS_NOTIFIER_API_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("SEPSIS_NOTIFIER_LINK_SECRET_FILE", str(tmp_path / "link"))
    for settings in (NotifierSettings(), NotifierSettings.with_secret_files(api_port=0)):
        assert settings.api_token is not None and settings.api_token.get_secret_value() == TOKEN
        assert settings.link_secret.get_secret_value() == LINK
    monkeypatch.delenv("SEPSIS_NOTIFIER_LINK_SECRET_FILE")
    with pytest.raises(ValidationError, match="shipped development secret"):
        NotifierSettings()


def test_secret_file_errors_name_the_field(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValidationError, match=r"api_token_file: .* is empty"):
        NotifierSettings(api_token_file=tmp_path / "empty")
    with pytest.raises(ValidationError, match=r"pagerduty_webhook_secret_file: .* cannot be read"):
        NotifierSettings(pagerduty_webhook_secret_file=tmp_path / "missing")
    (tmp_path / "token").write_text(TOKEN)
    with pytest.raises(ValidationError, match="set api_token or api_token_file, not both"):
        NotifierSettings(api_token=SecretStr(TOKEN), api_token_file=tmp_path / "token")


def test_topic_names_default_to_the_shared_topics() -> None:
    assert NotifierTopics.from_settings(NotifierSettings()) == NotifierTopics()
    assert NotifierTopics() == NotifierTopics(alerts=Topics.ALERTS, notification_log=Topics.NOTIFICATION_LOG,
                                              acks=Topics.ACKS, silences=Topics.SILENCES,
                                              dead_letter=Topics.DEAD_LETTER)


def test_topic_names_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    names = {"ALERTS": "t.alerts", "NOTIFICATION_LOG": "t.log", "ACKS": "t.acks", "SILENCES": "t.sil",
             "DEAD_LETTER": "t.dlq"}
    for key, value in names.items():
        monkeypatch.setenv(f"SEPSIS_NOTIFIER_TOPIC_{key}", value)
    expected = NotifierTopics(alerts="t.alerts", notification_log="t.log", acks="t.acks", silences="t.sil",
                              dead_letter="t.dlq")
    assert NotifierTopics.from_settings(NotifierSettings()) == expected
    assert NotifierTopics.from_settings(NotifierTopicSettings()) == expected


@pytest.mark.parametrize("bad", ["", "has space", "x" * 250, "sepsis/alerts"])
def test_invalid_topic_names_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="topic_alerts"):
        NotifierSettings(topic_alerts=bad)
