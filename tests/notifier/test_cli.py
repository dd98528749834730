"""`sepsis-alert ack`, `silence create|list|expire` and `notify --check` against the real broker."""

from __future__ import annotations

import json

import pytest

from notifier.cli import parse_duration
from schemas.topics import Topics
from sepsis_alert.cli import main
from sepsis_alert.kafka.config import KafkaSettings
from sepsis_alert.kafka.consumer import read_all


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200),
                                               ("1h30m", 5400), ("1d", 86400)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2x", "h", "1h 30m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(Exception, match="duration"):
        parse_duration(text)


def test_notify_check_rejects_a_route_to_a_missing_receiver(tmp_path, capsys) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("receivers:\n  - {name: a, type: slack, url: {value: 'http://127.0.0.1:1/x'}}\n"
                      "route: {receiver: a, routes: [{receiver: b}]}\n")
    assert main(["notify", "--check", "--config", str(config)]) == 2
    assert "unknown receiver 'b'" in capsys.readouterr().err


@pytest.mark.integration
def test_ack_and_silence_commands_write_the_shared_topics(kafka_settings: KafkaSettings, kafka_topics: dict,
                                                          monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("SEPSIS_KAFKA_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
    assert main(["ack", "ep-cli-test", "--by", "rn.smith"]) == 0
    acks = [json.loads(r.value) for r in read_all(kafka_settings, Topics.ACKS)]
    assert {"episode_id": "ep-cli-test", "acked_by": "rn.smith", "via": "cli"}.items() <= acks[-1].items()

    capsys.readouterr()
    assert main(["silence", "create", "--unit", "4W", "--duration", "30m", "--by", "charge.rn",
                 "--reason", "EHR downtime 02:00-02:30"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert main(["silence", "create", "--unit", "4W", "--duration", "3d", "--by", "x", "--reason", "too long"]) == 2
    assert "longer than the maximum" in capsys.readouterr().err
    assert main(["silence", "list"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert created["id"] in [s["id"] for s in listed]
    assert main(["silence", "expire", created["id"], "--by", "charge.rn"]) == 0
    capsys.readouterr()
    assert main(["silence", "list"]) == 0
    assert created["id"] not in capsys.readouterr().out
    audit = [json.loads(r.value) for r in read_all(kafka_settings, Topics.SILENCES)]
    assert [a["action"] for a in audit if a["silence"]["id"] == created["id"]] == ["create", "expire"]


def test_notify_refuses_a_public_address_without_secrets_and_never_prints_them(
        monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    token = "cli-token-" + "z" * 24
    monkeypatch.setenv("SEPSIS_NOTIFIER_API_HOST", "0.0.0.0")
    monkeypatch.setenv("SEPSIS_NOTIFIER_API_TOKEN", token)
    assert main(["notify", "--check"]) == 2
    err = capsys.readouterr().err
    assert "link_secret: the shipped development secret is refused" in err
    assert token not in err and token[-12:] not in err


@pytest.mark.integration
def test_ack_and_silence_commands_follow_the_configured_topic_names(
        kafka_settings: KafkaSettings, make_topic, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    compacted = {"cleanup.policy": "compact"}
    acks_topic, silences_topic = make_topic(1, compacted), make_topic(1, compacted)
    monkeypatch.setenv("SEPSIS_KAFKA_BOOTSTRAP_SERVERS", kafka_settings.bootstrap_servers)
    monkeypatch.setenv("SEPSIS_NOTIFIER_TOPIC_ACKS", acks_topic)
    monkeypatch.setenv("SEPSIS_NOTIFIER_TOPIC_SILENCES", silences_topic)
    assert main(["ack", "ep-private-topic", "--by", "rn.jones"]) == 0
    assert [json.loads(r.value)["episode_id"] for r in read_all(kafka_settings, acks_topic)] == ["ep-private-topic"]
    capsys.readouterr()
    assert main(["silence", "create", "--unit", "5E", "--duration", "10m", "--by", "charge.rn",
                 "--reason", "private topic"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert main(["silence", "list"]) == 0  # read back from the private topic
    assert [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()] == [created["id"]]
