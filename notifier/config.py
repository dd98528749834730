"""Notifier configuration: process settings from the environment, routing and receivers from validated YAML.

Two layers:

- `NotifierSettings` (pydantic-settings, environment prefix `SEPSIS_NOTIFIER_`): where
  to listen, the public URL used in acknowledge links, and the process secrets
  (link secret, API token, PagerDuty webhook secret) as SecretStr, from the
  environment or from `*_FILE` secret files, and the Kafka topic names
  (`NotifierTopicSettings`). Off loopback the API token is required and the shipped
  link secret refused.
- `NotifierConfig` (the YAML file named by `--config` / `SEPSIS_NOTIFIER_CONFIG_FILE`):
  receivers, the routing tree, escalation policies, the fallback receiver, retry
  and silence limits. Cross references are checked when it loads: a route or a
  tier naming a missing receiver, an unknown escalation policy, duplicate names
  or a missing fallback are start-up errors.

Receiver URLs and keys are `SecretRef`s (`{env: NAME}`, `{file: /run/secrets/x}`
or `{value: ...}` for local use): resolved once at start-up, then only ever
shown redacted.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifier.core.dedup import DEFAULT_MAX_LOG_ENTRIES
from notifier.core.escalation import DEFAULT_MAX_CLOSED_EPISODES, DEFAULT_MAX_LIVE_EPISODES, EscalationPolicy
from notifier.core.paging import PagingPolicy
from notifier.core.phi import DEFAULT_ALLOWED, PhiField
from notifier.core.redact import Redactor
from notifier.core.retry_policy import RetryPolicy
from notifier.core.routing import Route, iter_routes
from notifier.errors import ConfigError
from notifier.integrations.pagerduty import PagerDutyReceiver
from notifier.integrations.slack import SlackReceiver
from notifier.integrations.teams import TeamsReceiver
from notifier.integrations.webhook import WebhookReceiver
from schemas.base import describe_validation_error
from schemas.topics import Topics
from sepsis_alert.ops.settings import is_loopback_host
from sepsis_alert.secret_files import fold_secret_files

__all__ = ["DEV_LINK_SECRET", "NotifierConfig", "NotifierSettings", "NotifierTopicSettings", "ReceiverConfig",
           "RetryConfig", "is_loopback_host", "load_config"]

ReceiverConfig = Annotated[PagerDutyReceiver | SlackReceiver | TeamsReceiver | WebhookReceiver,
                           Field(discriminator="type")]


class RetryConfig(BaseModel):
    """Exponential backoff with full jitter: `max_attempts` quick attempts, then the fallback is told and the
    receiver retried in the background until `deadline_s` (notifier.stages.redeliver)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=5, ge=1, le=20, description="quick attempts per receiver, the first included; "
                                                                   "then the fallback receiver is told")
    base_delay_s: float = Field(default=0.5, ge=0, description="cap of the first backoff, seconds")
    factor: float = Field(default=2.0, ge=1, description="backoff growth per attempt")
    max_delay_s: float = Field(default=30.0, ge=0, description="cap of any one backoff, seconds")
    max_retry_after_s: float = Field(default=60.0, ge=0, description="longest Retry-After honoured, seconds")
    deadline_s: float = Field(default=1800.0, ge=0, le=86_400,
                              description="after the quick attempts failed, keep retrying the receiver in the "
                                          "background for this long (seconds; survives a restart), then the "
                                          "dead-letter topic; 0 = dead-letter at once")

    def policy(self) -> RetryPolicy:
        return RetryPolicy(self.max_attempts, self.base_delay_s, self.factor, self.max_delay_s, self.max_retry_after_s,
                           self.deadline_s)


class NotifierConfig(BaseModel):
    """The routing / receiver YAML (see notifier/config/example.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    receivers: list[ReceiverConfig] = Field(min_length=1, description="every place a message can go")
    route: Route = Field(description="routing tree; the root must name a receiver or an escalation")
    escalation_policies: list[EscalationPolicy] = Field(
        default_factory=list, description="named chains of tiers (receiver + delay) that routes can escalate "
                                          "through until an acknowledgement or a resolve")
    fallback_receiver: str | None = Field(
        default=None, description="receiver told at once when a delivery fails its quick attempts, is refused or "
                                  "is uncertain (the primary is still retried until retry.deadline_s)")
    retry: RetryConfig = Field(default_factory=RetryConfig,
                               description="bounded exponential backoff of every delivery (see RetryConfig)")
    max_silence_s: float = Field(default=12 * 3600, gt=0, description="longest silence allowed, seconds")
    ack_link_ttl_s: float = Field(default=24 * 3600, gt=0, description="lifetime of acknowledge links, seconds")
    escalation_tick_s: float = Field(default=1.0, gt=0, le=60, description="how often escalation timers are checked")
    paging: PagingPolicy = Field(default_factory=PagingPolicy,
                                 description="which alert transitions page a person and which only update the "
                                             "episode (look-back, budget, acknowledgement hold; docs/paging.md)")

    @model_validator(mode="after")
    def _cross_references(self) -> Self:
        names = [r.name for r in self.receivers]
        duplicates = sorted(n for n, c in Counter(names).items() if c > 1)
        if duplicates:
            raise ValueError(f"receivers: duplicate names {duplicates}")
        policy_names = [p.name for p in self.escalation_policies]
        duplicates = sorted(n for n, c in Counter(policy_names).items() if c > 1)
        if duplicates:
            raise ValueError(f"escalation_policies: duplicate names {duplicates}")
        known, policies = set(names), set(policy_names)
        for policy in self.escalation_policies:
            for index, tier in enumerate(policy.tiers):
                if tier.receiver not in known:
                    raise ValueError(f"escalation_policies.{policy.name}.tiers[{index}].receiver: "
                                     f"unknown receiver {tier.receiver!r} (known: {sorted(known)})")
        if not (self.route.receiver or self.route.escalation):
            raise ValueError("route: the root route must name a receiver or an escalation (the default target)")
        for path, node in iter_routes(self.route):
            if node.receiver and node.receiver not in known:
                raise ValueError(f"route {path}.receiver: unknown receiver {node.receiver!r} "
                                 f"(known: {sorted(known)})")
            if node.escalation and node.escalation not in policies:
                raise ValueError(f"route {path}.escalation: unknown escalation policy {node.escalation!r} "
                                 f"(known: {sorted(policies)})")
        if self.fallback_receiver is not None and self.fallback_receiver not in known:
            raise ValueError(f"fallback_receiver: unknown receiver {self.fallback_receiver!r}")
        return self

    def policies(self) -> dict[str, EscalationPolicy]:
        return {p.name: p for p in self.escalation_policies}


def load_config(path: Path) -> NotifierConfig:
    """Read and validate the YAML file; raises ConfigError naming the field and the bad value."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read ({type(exc).__name__})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    return parse_config(raw, source=str(path))


def parse_config(raw: object, source: str = "<config>") -> NotifierConfig:
    """Validate an already-parsed document."""
    try:
        return NotifierConfig.model_validate(raw)
    except ValidationError as exc:
        # Error messages quote bad inputs; never let an inline secret (`{value: ...}`) through.
        message = Redactor(_inline_secrets(raw)).scrub(describe_validation_error(exc))
        raise ConfigError(f"{source}: {message}") from None


def _inline_secrets(node: object) -> list[str]:
    """Every string given as a SecretRef `value` anywhere in the document."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "value" and isinstance(value, str):
                found.append(value)
                found.extend(value[i:i + 24] for i in range(0, max(0, len(value) - 23), 12))  # truncated quotes
            else:
                found.extend(_inline_secrets(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_inline_secrets(item))
    return found


ConsoleRole = Literal["viewer", "responder", "ops"]


def _default_group_roles() -> dict[str, ConsoleRole]:
    return {"sepsis-viewers": "viewer", "sepsis-responders": "responder", "sepsis-ops": "ops"}


DEV_LINK_SECRET = "local-dev-link-secret-change-me"
"""The shipped link secret: fine on 127.0.0.1, refused on any other address (anyone could forge ack links)."""
MIN_SECRET_CHARS = 16
"""Shortest link secret / API token accepted off loopback (a short HMAC key or bearer token can be guessed)."""
_SECRET_FIELDS = ("link_secret", "api_token", "pagerduty_webhook_secret")
_KAFKA_TOPIC_NAME = r"^[A-Za-z0-9._-]{1,249}$"


class NotifierTopicSettings(BaseSettings):
    """Kafka topic names the notifier reads and writes (environment prefix `SEPSIS_NOTIFIER_`).

    Separate from `NotifierSettings` so that `sepsis-alert ack` / `silence` can find the
    acks and silences topics without needing the notifier's secrets.
    """

    # hide_input_in_errors: a model-level error would otherwise print the whole input, raw secrets included.
    model_config = SettingsConfigDict(env_prefix="SEPSIS_NOTIFIER_", extra="ignore", frozen=True,
                                      hide_input_in_errors=True)

    topic_alerts: str = Field(default=Topics.ALERTS, pattern=_KAFKA_TOPIC_NAME,
                              description="topic the notifier consumes alerts from (consumer group)")
    topic_notification_log: str = Field(
        default=Topics.NOTIFICATION_LOG, pattern=_KAFKA_TOPIC_NAME,
        description="compacted topic of sent notifications, shared by all replicas (de-duplication, resolves)")
    topic_acks: str = Field(default=Topics.ACKS, pattern=_KAFKA_TOPIC_NAME,
                            description="compacted topic of acknowledgements (API, links, PagerDuty, CLI)")
    topic_silences: str = Field(default=Topics.SILENCES, pattern=_KAFKA_TOPIC_NAME,
                                description="compacted topic of silence audit records (API and CLI)")
    topic_dead_letter: str = Field(default=Topics.DEAD_LETTER, pattern=_KAFKA_TOPIC_NAME,
                                   description="topic that malformed alerts and undeliverable notifications go to")


class NotifierSettings(NotifierTopicSettings):
    """Process settings of `sepsis-alert notify` (environment prefix `SEPSIS_NOTIFIER_`).

    Off loopback (`api_host` other than 127.x / ::1 / localhost) the API token is required and
    the shipped development link secret is refused: a start-up error, not a warning.
    """

    # hide_input_in_errors: a model-level error would otherwise print the whole input, raw secrets included.
    model_config = SettingsConfigDict(env_prefix="SEPSIS_NOTIFIER_", extra="ignore", frozen=True,
                                      hide_input_in_errors=True)

    config_file: Path = Field(default=Path(__file__).parent / "config" / "example.yaml",
                              description="routing / receiver YAML")
    consumer_group: str = Field(default="sepsis-notifier", min_length=1,
                                description="Kafka consumer group shared by notifier replicas")
    api_host: str = Field(default="127.0.0.1",
                          description="bind address of the HTTP API (acks, silences, webhooks); any non-loopback "
                                      "address requires api_token and a link_secret other than the shipped one")
    api_port: int = Field(default=8087, ge=0, le=65535, description="HTTP API port; 0 = pick a free one")
    metrics_port: int | None = Field(default=None, ge=0, le=65535,
                                     description="Prometheus /metrics port; None = no metrics server")
    public_base_url: str = Field(default="http://127.0.0.1:8087",
                                 description="URL responders reach the API at; used in acknowledge links")
    link_secret: SecretStr = Field(default=SecretStr(DEV_LINK_SECRET),
                                   description="HMAC key of acknowledge links; the same on every replica; "
                                               f"at least {MIN_SECRET_CHARS} characters and not the shipped "
                                               "default when api_host is not loopback")
    link_secret_file: Path | None = Field(
        default=None, description="file holding link_secret (e.g. a mounted Secret), read at start-up, "
                                  "surrounding whitespace stripped; not together with link_secret")
    api_token: SecretStr | None = Field(default=None,
                                        description="bearer token required by POST /ack, POST/GET/DELETE /silences; "
                                                    "None = no token (allowed on a loopback api_host only)")
    api_token_file: Path | None = Field(
        default=None, description="file holding api_token, read at start-up, surrounding whitespace stripped; "
                                  "not together with api_token")
    pagerduty_webhook_secret: SecretStr | None = Field(
        default=None, description="secret of the PagerDuty V3 webhook subscription; None = endpoint disabled")
    pagerduty_webhook_secret_file: Path | None = Field(
        default=None, description="file holding pagerduty_webhook_secret, read at start-up, surrounding "
                                  "whitespace stripped; not together with pagerduty_webhook_secret")
    poll_timeout_ms: int = Field(default=100, gt=0, le=5_000, description="Kafka poll wait, milliseconds")
    max_poll_records: int = Field(default=500, gt=0, le=10_000,
                                  description="alerts per poll, and at most this many in flight")
    max_concurrency: int = Field(default=64, gt=0, le=1_000, description="patients notified concurrently")
    log_memory_max_entries: int = Field(
        default=DEFAULT_MAX_LOG_ENTRIES, ge=1_000,
        description="cap on notification-log records kept in memory for de-duplication and resolve fan-out "
                    "(a few hundred bytes each, least recently active episodes evicted first); keep it far "
                    "above the notifications sent between two offset commits")
    max_open_episodes: int = Field(
        default=DEFAULT_MAX_LIVE_EPISODES, ge=100,
        description="cap on unresolved episodes whose escalation state and latest alert are kept in memory "
                    "(a few kB each; acknowledged episodes are evicted first)")
    max_closed_episodes: int = Field(
        default=DEFAULT_MAX_CLOSED_EPISODES, ge=1_000,
        description="cap on remembered resolved-episode ids, which stop a late log entry from restarting "
                    "an escalation chain (~150 bytes each)")

    # Console (docs/console.md): who may sign in and how risk is worded.
    console_users_file: Path | None = Field(
        default=None, description="JSON file of local console accounts (scrypt hashes), written by `sepsis-alert "
                                  "console add-user`; None = no local accounts")
    console_trusted_proxies: list[str] = Field(
        default_factory=list, description="addresses or CIDR networks of the authenticating reverse proxy whose "
                                          "user / groups headers are believed (oauth2-proxy); empty = none")
    console_proxy_user_header: str = Field(default="X-Forwarded-User", min_length=1,
                                           description="header naming the signed-in user (trusted proxies only)")
    console_proxy_groups_header: str = Field(default="X-Forwarded-Groups", min_length=1,
                                             description="header with the user's comma-separated groups")
    console_group_roles: dict[str, ConsoleRole] = Field(
        default_factory=_default_group_roles,
        description="proxy group -> console role; a user in no listed group is refused")
    console_anonymous_role: Literal["none", "viewer", "responder", "ops"] = Field(
        default="none", description="role given without signing in; anything but none is refused unless api_host "
                                    "is loopback")
    console_session_hours: float = Field(default=12.0, gt=0, le=72,
                                         description="a console sign-in lasts this long (one shift)")
    console_risk_baseline: float = Field(
        default=0.02, gt=0, lt=1, description="the learned risk's baseline in 'x4 baseline': the share of "
                                              "labelled sepsis hours in the model's training data (about 2 %, "
                                              "docs/model-card.md)")
    console_risk_raised: float = Field(default=0.03, gt=0, lt=1,
                                       description="risk worded 'raised' from here (the model's level-2 threshold)")
    console_risk_high: float = Field(default=0.05, gt=0, lt=1,
                                     description="risk worded 'high' from here (the model's level-3 threshold, "
                                                 "the one that pages)")
    console_phi_allow: list[PhiField] = Field(
        default_factory=lambda: [*DEFAULT_ALLOWED, "treatment_started"],
        description="what the console shows of a patient (notifier.core.phi fields); never a name")
    console_feed_topics: list[str] = Field(
        default_factory=lambda: [Topics.RAW_HL7, Topics.RAW_FHIR],
        description="raw-input topics whose records (headers source and sender) are the feeds on the console's "
                    "Feeds page")
    console_feed_silent_minutes: float = Field(default=15.0, gt=0,
                                               description="a feed silent this long is highlighted on the Feeds page")
    console_ops_lookback_hours: float = Field(
        default=24.0, gt=0, le=24 * 30, description="how far back the ops pages read feeds and dead letters at start")
    console_ops_refresh_s: float = Field(default=15.0, ge=1, le=600,
                                         description="seconds between reads of the consumer groups' lag")

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: object) -> object:
        """Load `<secret>_file` into `<secret>` (at start-up, so the checks below see the real values)."""
        return fold_secret_files(data, _SECRET_FIELDS)
        data = dict(data)
        for name in _SECRET_FIELDS:
            path = data.get(f"{name}_file")
            if path in (None, ""):
                continue
            if data.get(name) is not None:
                raise ValueError(f"set {name} or {name}_file, not both")
            try:
                value = Path(path).read_text(encoding="utf-8").strip()
            except (OSError, TypeError) as exc:
                raise ValueError(f"{name}_file: {str(path)!r} cannot be read ({type(exc).__name__})") from None
            if not value:
                raise ValueError(f"{name}_file: {str(path)!r} is empty")
            data[name] = SecretStr(value)
        return data

    @model_validator(mode="after")
    def _credentials_off_loopback(self) -> Self:
        for proxy in self.console_trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"console_trusted_proxies: {proxy!r} is not an address or a network") from None
        if is_loopback_host(self.api_host):
            return self
        where = f"api_host {self.api_host!r} is not a loopback address"
        if self.console_anonymous_role != "none":
            raise ValueError(f"console_anonymous_role: {self.console_anonymous_role!r} refused because {where}; "
                             f"sign-in is required off loopback (local accounts or a trusted proxy)")
        if self.api_token is None:
            raise ValueError(f"api_token: required because {where}; set SEPSIS_NOTIFIER_API_TOKEN or "
                             f"SEPSIS_NOTIFIER_API_TOKEN_FILE (anyone reaching the port could acknowledge "
                             f"alerts and create silences otherwise)")
        if len(self.api_token.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(f"api_token: shorter than {MIN_SECRET_CHARS} characters while {where}")
        link = self.link_secret.get_secret_value()
        if link == DEV_LINK_SECRET:
            raise ValueError(f"link_secret: the shipped development secret is refused because {where} (anyone "
                             f"could forge acknowledge links); set SEPSIS_NOTIFIER_LINK_SECRET or "
                             f"SEPSIS_NOTIFIER_LINK_SECRET_FILE to a random value, e.g. the output of "
                             f"`python -c 'import secrets; print(secrets.token_urlsafe(32))'`, the same on "
                             f"every replica")
        if len(link) < MIN_SECRET_CHARS:
            raise ValueError(f"link_secret: shorter than {MIN_SECRET_CHARS} characters while {where}")
        return self

    @classmethod
    def with_secret_files(cls, **overrides: object) -> NotifierSettings:
        """Settings from the environment (secret files included) with `overrides` on top.

        Kept for callers written before the `*_file` fields existed: the model itself now reads
        `SEPSIS_NOTIFIER_<SECRET>_FILE`, so this is plain construction.
        """
        return cls(**overrides)  # type: ignore[arg-type]
