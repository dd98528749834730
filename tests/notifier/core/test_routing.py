"""Routing tree decisions and load-time cross-reference checks (table-driven)."""

from __future__ import annotations

import pytest

from notifier.config import parse_config
from notifier.core.routing import Match, Route, match_routes
from notifier.errors import ConfigError
from schemas.alert import AlertTransition
from tests.notifier.helpers import make_alert

TREE = Route.model_validate({
    "receiver": "default",
    "routes": [
        {"name": "critical", "match": {"min_level": 3, "transitions": ["opened", "escalated"]},
         "escalation": "chain", "continue": True},
        {"name": "micu", "match": {"units": ["MICU"]}, "receiver": "micu-slack",
         "routes": [{"name": "micu-treated", "match": {"treatment_started": True}, "receiver": "micu-quiet"}]},
        {"name": "low", "match": {"max_level": 1}, "receiver": "review-queue"},
    ],
})


@pytest.mark.parametrize(("alert_kwargs", "expected"), [
    ({"level": 3, "unit": "MICU"}, [("critical", None, "chain"), ("micu", "micu-slack", None)]),
    ({"level": 3, "unit": "4W"}, [("critical", None, "chain")]),
    ({"level": 2, "unit": "4W"}, [("root", "default", None)]),
    ({"level": 1, "unit": "4W"}, [("low", "review-queue", None)]),
    ({"level": 2, "unit": "MICU", "treatment_started": True}, [("micu-treated", "micu-quiet", None)]),
    ({"level": 4, "unit": "4W", "transition": AlertTransition.REPEATED}, [("root", "default", None)]),
])
def test_match_routes(alert_kwargs: dict, expected: list) -> None:
    targets = match_routes(TREE, make_alert(**alert_kwargs))
    assert [(t.route, t.receiver, t.escalation) for t in targets] == expected


@pytest.mark.parametrize(("match", "alert_kwargs", "accepted"), [
    ({}, {}, True),
    ({"min_level": 4}, {"level": 3}, False),
    ({"facilities": ["General"]}, {}, True),
    ({"facilities": ["Other"]}, {}, False),
    ({"infection_suspected": False}, {}, False),
    ({"transitions": ["resolved"]}, {"transition": AlertTransition.RESOLVED}, True),
])
def test_match_conditions(match: dict, alert_kwargs: dict, accepted: bool) -> None:
    assert Match.model_validate(match).accepts(make_alert(**alert_kwargs)) is accepted


def _config(**overrides: object) -> dict:
    doc: dict = {
        "receivers": [{"name": "a", "type": "slack", "url": {"value": "http://127.0.0.1:1/x"}},
                      {"name": "b", "type": "slack", "url": {"value": "http://127.0.0.1:1/y"}}],
        "escalation_policies": [{"name": "chain", "tiers": [{"receiver": "a"}, {"receiver": "b", "delay_s": 5}]}],
        "route": {"receiver": "a", "routes": [{"match": {"min_level": 3}, "escalation": "chain"}]},
    }
    doc.update(overrides)
    return doc


@pytest.mark.parametrize(("overrides", "message"), [
    ({"route": {"receiver": "a", "routes": [{"receiver": "nope"}]}}, "unknown receiver 'nope'"),
    ({"route": {"receiver": "a", "routes": [{"escalation": "nope"}]}}, "unknown escalation policy 'nope'"),
    ({"route": {"routes": [{"receiver": "a"}]}}, "root route must name a receiver"),
    ({"fallback_receiver": "ghost"}, "fallback_receiver: unknown receiver 'ghost'"),
    ({"escalation_policies": [{"name": "chain", "tiers": [{"receiver": "zzz"}]}]}, "unknown receiver 'zzz'"),
    ({"escalation_policies": [{"name": "chain", "tiers": [{"receiver": "a"}, {"receiver": "b", "delay_s": 0}]}]},
     "tiers[1].delay_s must be > 0"),
    ({"receivers": [{"name": "a", "type": "slack", "url": {"value": "x"}},
                    {"name": "a", "type": "slack", "url": {"value": "y"}}]}, "duplicate names ['a']"),
    ({"route": {"receiver": "a", "escalation": "chain"}}, "not both"),
])
def test_config_cross_references_fail_at_load(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_config(**overrides))
    assert message in str(err.value)


def test_valid_config_and_examples_load() -> None:
    config = parse_config(_config(fallback_receiver="b"))
    assert config.policies()["chain"].tiers[1].delay_s == 5


def test_secret_ref_needs_exactly_one_source() -> None:
    bad = _config(receivers=[{"name": "a", "type": "slack", "url": {"env": "X", "value": "y"}}])
    with pytest.raises(ConfigError, match="exactly one of env, file, value"):
        parse_config(bad)


def test_shipped_example_configs_validate() -> None:
    from pathlib import Path

    from notifier.config import load_config

    folder = Path(__file__).resolve().parents[3] / "notifier" / "config"
    names = sorted(p.name for p in folder.glob("*.yaml"))
    assert names == ["example.yaml", "local.yaml"]
    example = load_config(folder / "example.yaml")
    assert example.fallback_receiver == "ops-fallback" and len(example.policies()["sepsis-chain"].tiers) == 2
    assert load_config(folder / "local.yaml").route.receiver == "local-pager"


def test_config_errors_never_quote_an_inline_secret() -> None:
    secret_url = "https://hooks.slack.com/services/T000/B000/VerySecretToken0123456789"
    bad = _config(receivers=[{"name": "a", "type": "slak", "url": {"value": secret_url}}])
    with pytest.raises(ConfigError) as err:
        parse_config(bad)
    assert "VerySecret" not in str(err.value) and "Token0123" not in str(err.value)
    assert "type" in str(err.value)
