"""PHI views, signed acknowledge links, webhook signatures and redaction."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from notifier.core.links import LinkCheck, ack_token, ack_url, check_ack_token
from notifier.core.phi import PhiPolicy, build_view, clip, mask_identifier
from notifier.core.redact import Redactor, redact_url
from notifier.core.signing import SignatureCheck, sign_webhook, verify_pagerduty_signature, verify_webhook
from schemas.base import Location
from tests.notifier.helpers import make_alert


def test_default_policy_shows_the_minimum() -> None:
    view = build_view(make_alert(), PhiPolicy(), "https://n/ack/x?t=1.s")
    assert view.unit == "MICU" and view.bed == "12" and view.level == 3
    assert view.facility is None and view.room is None and view.masked_mrn is None and view.event_time is None
    assert len(view.reasons) == 3 and view.scores and view.ack_url
    assert "MRN12345678" not in repr(view)


@pytest.mark.parametrize(("allow", "absent", "present"), [
    (["unit", "level"], ["bed", "scores", "reasons", "ack_url"], ["unit", "level"]),
    (["masked_mrn"], ["unit", "level"], ["masked_mrn"]),
    ([], ["unit", "bed", "level", "scores", "reasons", "ack_url", "masked_mrn"], []),
])
def test_policy_limits_fields(allow: list, absent: list, present: list) -> None:
    view = build_view(make_alert(), PhiPolicy(allow=allow), "https://n/ack/x")
    for name in absent:
        assert getattr(view, name) in (None, ()), name
    for name in present:
        assert getattr(view, name), name
    assert "MRN12345678" not in repr(view)


@pytest.mark.parametrize(("location", "allow", "shown"), [
    (None, ["unit", "bed"], "location unknown"),  # no ADT yet: nothing is hidden, nothing is known
    (Location(), ["unit", "bed"], "location unknown"),
    (Location(unit="  ", bed=""), ["unit", "bed"], "location unknown"),
    (Location(unit="MICU", bed="12"), ["level"], "location withheld"),  # known, hidden by the policy
    (Location(facility="General"), ["unit", "bed"], "location withheld"),
    (Location(unit="MICU", bed="12"), ["unit"], "MICU"),
    (Location(unit="MICU", bed="12"), ["unit", "bed"], "MICU 12"),
])
def test_unknown_and_withheld_locations_are_told_apart(location: Location | None, allow: list, shown: str) -> None:
    view = build_view(make_alert().model_copy(update={"location": location}), PhiPolicy(allow=allow), None)
    assert view.location == shown


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("short", 10, "short"), ("abcdefghij", 5, "abcd\u2026"),
    ("ab\U0001F469\u200d\U0001F4BBcd", 5, "ab\U0001F469\u2026"),  # no dangling zero-width joiner
])
def test_clip(text: str, limit: int, expected: str) -> None:
    assert clip(text, limit) == expected and len(clip(text, limit)) <= limit


@pytest.mark.parametrize(("value", "masked"), [("MRN12345678", "*******5678"), ("1234", "****"), ("12", "****")])
def test_mask_identifier(value: str, masked: str) -> None:
    assert mask_identifier(value) == masked


SECRET = b"link-secret-for-tests"


@pytest.mark.parametrize(("episode", "token", "now", "expected"), [
    ("ep-1", ack_token(SECRET, "ep-1", 2000), 1999.0, LinkCheck.VALID),
    ("ep-1", ack_token(SECRET, "ep-1", 2000), 2000.0, LinkCheck.EXPIRED),
    ("ep-2", ack_token(SECRET, "ep-1", 2000), 1000.0, LinkCheck.BAD_SIGNATURE),  # bound to its episode
    ("ep-1", ack_token(b"other", "ep-1", 2000), 1000.0, LinkCheck.BAD_SIGNATURE),
    ("ep-1", "3000." + ack_token(SECRET, "ep-1", 2000).split(".")[1], 1000.0, LinkCheck.BAD_SIGNATURE),  # extended
    ("ep-1", "garbage", 1000.0, LinkCheck.MALFORMED),
])
def test_ack_links(episode: str, token: str, now: float, expected: LinkCheck) -> None:
    assert check_ack_token(SECRET, episode, token, now) == expected


def test_ack_url_shape() -> None:
    url = ack_url("https://notifier.example/", SECRET, "ep-1", 2000)
    assert url.startswith("https://notifier.example/ack/ep-1?t=2000.")


BODY = b'{"episode_id":"ep-1"}'


def test_webhook_signature_matches_the_documented_recipe() -> None:
    header = sign_webhook(b"whsec", 1700000000, BODY)
    expected = hmac.new(b"whsec", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


@pytest.mark.parametrize(("header_secret", "body", "now", "secrets", "expected"), [
    (b"whsec", BODY, 1700000100.0, [b"whsec"], SignatureCheck.VALID),
    (b"whsec", BODY, 1700000100.0, [b"new", b"whsec"], SignatureCheck.VALID),  # rotation
    (b"whsec", BODY + b" ", 1700000100.0, [b"whsec"], SignatureCheck.BAD_SIGNATURE),  # tampered body
    (b"whsec", BODY, 1700000301.0, [b"whsec"], SignatureCheck.OUTSIDE_WINDOW),  # replay after 5 min
    (b"other", BODY, 1700000100.0, [b"whsec"], SignatureCheck.BAD_SIGNATURE),
])
def test_verify_webhook(header_secret: bytes, body: bytes, now: float, secrets: list, expected: SignatureCheck) -> None:
    header = sign_webhook(header_secret, 1700000000, BODY)
    assert verify_webhook(header, body, secrets, now) == expected


def test_verify_webhook_malformed() -> None:
    assert verify_webhook("nonsense", BODY, [b"k"], 0) == SignatureCheck.MALFORMED
    assert verify_webhook("t=1", BODY, [b"k"], 0) == SignatureCheck.MALFORMED


def test_pagerduty_signature_with_rotation() -> None:
    good = "v1=" + hmac.new(b"pd", BODY, hashlib.sha256).hexdigest()
    assert verify_pagerduty_signature(f"v1=deadbeef,{good}", BODY, b"pd")
    assert not verify_pagerduty_signature("v1=deadbeef", BODY, b"pd")
    assert not verify_pagerduty_signature(None, BODY, b"pd")


def test_redaction() -> None:
    assert redact_url("https://hooks.slack.com/services/T0/B0/secret") == "https://hooks.slack.com/[REDACTED]"
    redactor = Redactor(["https://hooks.slack.com/services/T0/B0/secret", "secret-token-1"])
    text = "POST https://hooks.slack.com/services/T0/B0/secret failed; key secret-token-1"
    assert redactor.scrub(text) == "POST [REDACTED] failed; key [REDACTED]"


def test_standard_webhooks_signature_matches_the_specification_example() -> None:
    from notifier.core.signing import SignatureCheck, standard_webhook_headers, verify_standard_webhook

    secret, body = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", b'{"test": 2432232314}'
    headers = standard_webhook_headers(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    # the example of the Standard Webhooks specification (standardwebhooks.com)
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert verify_standard_webhook(headers, body, secret, 1614265330 + 10) == SignatureCheck.VALID
    assert verify_standard_webhook(headers, body + b" ", secret, 1614265330) == SignatureCheck.BAD_SIGNATURE
    assert verify_standard_webhook(headers, body, b"whsec_" + b"A" * 32, 1614265330) == SignatureCheck.BAD_SIGNATURE
    assert verify_standard_webhook(headers, body, secret, 1614265330 + 3600) == SignatureCheck.OUTSIDE_WINDOW
    assert verify_standard_webhook({}, body, secret, 1614265330) == SignatureCheck.MALFORMED
    plain = standard_webhook_headers(b"not-a-whsec-secret", "id-1", 1, b"{}")  # the secret's bytes as the key
    assert verify_standard_webhook(plain, b"{}", b"not-a-whsec-secret", 1) == SignatureCheck.VALID


def test_a_webhook_keeps_its_idempotency_key_across_retries_and_restarts() -> None:
    from notifier.core.model import Notification
    from notifier.core.phi import PhiPolicy, build_view
    from notifier.integrations.webhook import WebhookReceiver

    receiver = WebhookReceiver.model_validate({"name": "ehr", "type": "webhook",
                                               "url": {"value": "https://ehr.example/hook"},
                                               "secret": {"value": "whsec-0123456789"}})
    integration = receiver.build()
    alert = make_alert()
    item = Notification(alert=alert, receiver="ehr")
    view = build_view(alert, PhiPolicy(), "https://x/ack")
    first = integration.format(item, view, 1_000.0).headers
    retry = integration.format(Notification(alert=alert, receiver="ehr", attempts=3), view, 1_090.0).headers
    assert first["webhook-id"] == retry["webhook-id"] == f"{alert.alert_id}|ehr"
    assert first["webhook-timestamp"] != retry["webhook-timestamp"]
    other = integration.format(Notification(alert=alert, receiver="ehr", tier=1), view, 1_000.0).headers
    assert other["webhook-id"] != first["webhook-id"]  # another transition / tier is another message
