"""Routing tree: which receivers an alert goes to (pure; validated when the config loads).

The tree is walked depth first, as in Alertmanager's dispatcher: a node matches
when its matcher accepts the alert; the deepest matching children win; a child
with `continue: true` lets its later siblings match as well; when no child
matches, the node itself is the target. The root matches every alert.

What the paging policy made of the alert (notifier.core.paging: page, update,
resolve) is one more condition: a node whose `kinds` is given matches only
those, and a node that ends up the target delivers only its `kinds` (default:
page and resolve, what a person needs; an update reaches only routes that ask
for it, such as a record keeper).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from notifier.core.paging import PageKind
from schemas.alert import Alert, AlertTransition

__all__ = ["Match", "Route", "RouteTarget", "iter_routes", "match_routes"]


_PERSON_KINDS = (PageKind.PAGE, PageKind.RESOLVE)


class Match(BaseModel):
    """Conditions on an alert; every condition given must hold (an empty matcher accepts everything)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_level: int | None = Field(default=None, ge=1, le=4, description="alert level at least this (1-4)")
    max_level: int | None = Field(default=None, ge=1, le=4, description="alert level at most this (1-4)")
    transitions: list[AlertTransition] | None = Field(
        default=None, description="opened, escalated, de-escalated, repeated, resolved")
    facilities: list[str] | None = Field(default=None, description="Location.facility, exact match")
    units: list[str] | None = Field(default=None, description="Location.unit (ward), exact match, e.g. MICU")
    infection_suspected: bool | None = Field(default=None, description="patient attribute from the detector")
    treatment_started: bool | None = Field(default=None, description="antibiotics already ordered or given")
    kinds: list[PageKind] | None = Field(
        default=None, description="what the paging policy made of the alert: page, update, resolve (default: "
                                  "page and resolve, what a person needs; a record keeper such as an EHR inbox "
                                  "asks for update too)")

    @model_validator(mode="after")
    def _levels_ordered(self) -> Match:
        if self.min_level is not None and self.max_level is not None and self.min_level > self.max_level:
            raise ValueError(f"min_level ({self.min_level}) is above max_level ({self.max_level})")
        return self

    def takes(self, kind: PageKind) -> bool:
        """Whether a route ending here delivers what the paging policy made a `kind` (default: page, resolve)."""
        return kind in (self.kinds if self.kinds is not None else _PERSON_KINDS)

    def accepts(self, alert: Alert, kind: PageKind | None = None) -> bool:
        """True when every given condition holds for `alert`; `kind` is checked only when `kinds` is given."""
        if kind is not None and self.kinds is not None and kind not in self.kinds:
            return False
        level = int(alert.level)
        location = alert.location
        checks = (
            self.min_level is None or level >= self.min_level,
            self.max_level is None or level <= self.max_level,
            self.transitions is None or alert.transition in self.transitions,
            self.facilities is None or (location is not None and location.facility in self.facilities),
            self.units is None or (location is not None and location.unit in self.units),
            self.infection_suspected is None or alert.infection_suspected == self.infection_suspected,
            self.treatment_started is None or alert.treatment_started == self.treatment_started,
        )
        return all(checks)


class Route(BaseModel):
    """A node of the routing tree. A node names a receiver, an escalation policy, or neither (inherits)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="", max_length=64, description="label used in logs and metrics; defaults to the path")
    match: Match = Field(default_factory=Match, description="conditions an alert must meet to take this route; "
                                                            "empty matches every alert")
    receiver: str | None = Field(default=None, description="receiver name; inherited from the parent when empty")
    escalation: str | None = Field(
        default=None, description="escalation policy name; its first tier is notified at once, later tiers "
                                  "after their delays unless someone acknowledges")
    continue_: bool = Field(default=False, alias="continue",
                            description="after this route matches, keep trying its later siblings")
    routes: list[Route] = Field(default_factory=list, description="child routes, tried in order")

    @model_validator(mode="after")
    def _one_target(self) -> Route:
        if self.receiver and self.escalation:
            raise ValueError(f"route {self.name or '?'}: give either receiver ({self.receiver!r}) "
                             f"or escalation ({self.escalation!r}), not both")
        return self


@dataclass(frozen=True)
class RouteTarget:
    """Where a matched route sends the alert: a receiver, or the first tier of an escalation policy."""

    route: str
    receiver: str | None
    escalation: str | None


def match_routes(root: Route, alert: Alert, kind: PageKind = PageKind.PAGE) -> list[RouteTarget]:
    """Targets for `alert` (which the paging policy made a `kind`), depth first; empty when the matched node
    names no receiver at all, or when nothing takes that kind."""
    return _match(root, alert, kind, "root", None, None)


def _match(node: Route, alert: Alert, kind: PageKind, path: str, receiver: str | None,
           escalation: str | None) -> list[RouteTarget]:
    if node.receiver or node.escalation:
        receiver, escalation = node.receiver, node.escalation
    label = node.name or path
    found: list[RouteTarget] = []
    for index, child in enumerate(node.routes):
        if not child.match.accepts(alert, kind):
            continue
        found.extend(_match(child, alert, kind, f"{path}.{index}", receiver, escalation))
        if not child.continue_:
            break
    if found:
        return found
    if (receiver is None and escalation is None) or not node.match.takes(kind):
        return []
    return [RouteTarget(route=label, receiver=receiver, escalation=escalation)]


def iter_routes(root: Route) -> Iterator[tuple[str, Route]]:
    """Every node with its path (`root`, `root.0`, `root.0.1`, ...), for load-time cross-reference checks."""
    stack: list[tuple[str, Route]] = [("root", root)]
    while stack:
        path, node = stack.pop()
        yield path, node
        stack.extend((f"{path}.{i}", child) for i, child in reversed(list(enumerate(node.routes))))
