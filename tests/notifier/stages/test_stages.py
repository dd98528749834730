"""Stages with in-memory collaborators: route expansion, resolve follow-up, silence pass-through, dedup in flight."""

from __future__ import annotations

import asyncio

from notifier.clock import SystemClock
from notifier.core.dedup import NotificationLogView
from notifier.core.escalation import EscalationPolicy
from notifier.core.model import DeliveryOutcome, Notification, NotificationLogEntry, NotifyAction
from notifier.core.routing import Route
from notifier.core.silence import SilenceRequest, new_silence
from notifier.metrics import NotifierMetrics
from notifier.stages.dedup import DedupStage
from notifier.stages.route import RouteStage
from notifier.stages.silence import SilenceStage
from schemas.alert import AlertTransition
from tests.notifier.helpers import make_alert

POLICIES = {"chain": EscalationPolicy.model_validate({"name": "chain", "tiers": [
    {"receiver": "nurse"}, {"receiver": "rrt", "delay_s": 60}]})}
ROOT = Route.model_validate({"receiver": "ward", "routes": [
    {"match": {"min_level": 3, "transitions": ["opened"]}, "escalation": "chain", "continue": True},
    {"match": {"transitions": ["opened"]}, "receiver": "ward"}]})


def test_route_expands_to_tier_zero_and_receivers() -> None:
    stage = RouteStage(ROOT, POLICIES, NotificationLogView())
    out = asyncio.run(stage.run([Notification(make_alert(level=3))]))
    assert [(n.receiver, n.tier, n.escalation_policy) for n in out] == [("nurse", 0, "chain"), ("ward", 0, None)]


def test_resolve_follows_every_receiver_that_was_paged() -> None:
    opened = make_alert(level=3)
    log = NotificationLogView([NotificationLogEntry.from_notification(
        Notification(opened, receiver="rrt", tier=1, outcome=DeliveryOutcome.DELIVERED), 5.0)])
    resolved = make_alert(sequence=2, level=0, transition=AlertTransition.RESOLVED)
    out = asyncio.run(RouteStage(ROOT, POLICIES, log).run([Notification(resolved, action=NotifyAction.RESOLVE)]))
    assert sorted((n.receiver, n.route) for n in out) == [("rrt", "resolve-follow-up"), ("ward", "root")]


def test_silence_mutes_triggers_but_not_resolves_or_acks() -> None:
    clock = SystemClock()
    silence = new_silence(SilenceRequest(unit="MICU", duration_s=600, created_by="a", reason="downtime"),
                          clock.now_s() - 1, 3600)
    metrics = NotifierMetrics()
    stage = SilenceStage(lambda: [silence], clock, metrics)
    items = [Notification(make_alert(), receiver="ward"),
             Notification(make_alert(sequence=1, transition=AlertTransition.RESOLVED), receiver="ward",
                          action=NotifyAction.RESOLVE),
             Notification(make_alert(), receiver="pd", action=NotifyAction.ACKNOWLEDGE)]
    out = asyncio.run(stage.run(items))
    assert [n.action for n in out] == [NotifyAction.RESOLVE, NotifyAction.ACKNOWLEDGE]
    assert metrics.registry.get_sample_value("sepsis_notifier_silenced_total") == 1


def test_dedup_drops_a_concurrent_duplicate_until_released() -> None:
    stage = DedupStage(NotificationLogView(), NotifierMetrics())
    item = Notification(make_alert(), receiver="ward")
    assert asyncio.run(stage.run([item, item])) == [item]
    assert asyncio.run(stage.run([item])) == []
    stage.release(item.log_key)
    assert asyncio.run(stage.run([item])) == [item]
