"""RouteStage: one alert becomes one notification per receiver (routing tree + resolve follow-up)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from notifier.core.dedup import NotificationLogView
from notifier.core.escalation import EscalationPolicy
from notifier.core.model import Notification, NotifyAction
from notifier.core.paging import PageKind
from notifier.core.routing import Route, match_routes

__all__ = ["RouteStage"]

log = logging.getLogger("notifier.stages.route")


class RouteStage:
    """Expands unrouted notifications (receiver == "") into one per target receiver.

    A resolve also goes to every receiver that got a trigger for the episode,
    even when the routing tree would not pick it for a resolve (a PagerDuty
    incident opened at level 3 must be closed). Already-routed items (escalation
    steps, acknowledgements) pass through.
    """

    name = "route"

    def __init__(self, root: Route, policies: Mapping[str, EscalationPolicy], log_view: NotificationLogView) -> None:
        self._root = root
        self._policies = policies
        self._log = log_view

    async def run(self, items: list[Notification]) -> list[Notification]:
        out: list[Notification] = []
        for item in items:
            if item.receiver:
                out.append(item)
                continue
            routed: dict[str, Notification] = {}
            for target in match_routes(self._root, item.alert, item.kind):
                if target.escalation is not None:
                    receiver = self._policies[target.escalation].tiers[0].receiver
                else:
                    receiver = target.receiver or ""
                routed.setdefault(receiver, item.with_(receiver=receiver, route=target.route,
                                                       escalation_policy=target.escalation, tier=0))
            if item.action == NotifyAction.RESOLVE:
                for receiver in self._log.delivered_receivers(item.alert.episode_id):
                    routed.setdefault(receiver, item.with_(receiver=receiver, route="resolve-follow-up"))
            if not routed and item.kind != PageKind.UPDATE:  # an update routed nowhere is the common case
                log.warning("alert %s matched no receiver", item.alert.alert_id, extra=item.log_fields())
            out.extend(routed.values())
        return out
