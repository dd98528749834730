"""Silence decisions, limits and the audit fold (table-driven, time passed in)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from notifier.core.silence import SilenceAudit, SilenceRequest, apply_audit, check_silence, new_silence
from notifier.errors import SilenceRejected
from tests.notifier.helpers import make_alert

NOW = 1_000_000.0


def _silence(**fields: object):  # type: ignore[no-untyped-def]
    base = {"duration_s": 3600, "created_by": "nurse.lead", "reason": "EHR downtime"}
    base.update(fields)
    return new_silence(SilenceRequest.model_validate(base), NOW, max_duration_s=12 * 3600)


@pytest.mark.parametrize(("fields", "alert_kwargs", "at", "muted"), [
    ({"unit": "MICU"}, {}, NOW + 10, True),
    ({"unit": "MICU"}, {"unit": "4W"}, NOW + 10, False),
    ({"unit": "MICU"}, {}, NOW + 3600, False),  # expired at its end
    ({"unit": "MICU", "starts_in_s": 600}, {}, NOW + 10, False),  # maintenance window not started yet
    ({"unit": "MICU", "starts_in_s": 600}, {}, NOW + 700, True),
    ({"patient_key": "MRN12345678"}, {}, NOW + 1, True),
    ({"patient_key": "OTHER"}, {}, NOW + 1, False),
    ({"facility": "General", "unit": "4W"}, {}, NOW + 1, False),  # all matchers must hold
])
def test_check_silence(fields: dict, alert_kwargs: dict, at: float, muted: bool) -> None:
    decision = check_silence(make_alert(**alert_kwargs), [_silence(**fields)], at)
    assert decision.muted is muted
    assert (decision.silence_id is not None) is muted


def test_silence_longer_than_maximum_is_rejected() -> None:
    with pytest.raises(SilenceRejected, match="longer than the maximum"):
        _silence(unit="MICU", duration_s=13 * 3600)


@pytest.mark.parametrize("fields", [{"duration_s": 60}, {"unit": "MICU", "reason": ""},
                                    {"unit": "MICU", "created_by": ""}, {"unit": "MICU", "duration_s": 0}])
def test_silence_request_validation(fields: dict) -> None:
    base = {"duration_s": 60, "created_by": "x", "reason": "why not"}
    base.update(fields)
    with pytest.raises(ValidationError):
        SilenceRequest.model_validate(base)


def test_audit_fold_create_then_expire_ends_the_silence() -> None:
    silence = _silence(unit="MICU")
    table = apply_audit({}, SilenceAudit(action="create", actor="a", at_s=NOW, silence=silence))
    ended = silence.model_copy(update={"expired_at_s": NOW + 60, "expired_by": "b"})
    table = apply_audit(table, SilenceAudit(action="expire", actor="b", at_s=NOW + 60, silence=ended))
    assert check_silence(make_alert(), table.values(), NOW + 30).muted
    assert not check_silence(make_alert(), table.values(), NOW + 61).muted
    # A replayed create after the expiry does not resurrect it.
    table = apply_audit(table, SilenceAudit(action="create", actor="a", at_s=NOW, silence=silence))
    assert not check_silence(make_alert(), table.values(), NOW + 61).muted
