"""Accounts, roles and the trusted proxy (pure rules, a users file in tmp_path)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from notifier.console.accounts import (
    Role,
    UserStore,
    hash_password,
    identity_from_proxy,
    is_trusted_proxy,
    verify_password,
)

GROUPS = {"sepsis-viewers": "viewer", "sepsis-responders": "responder", "sepsis-ops": "ops"}


def test_password_hash_verifies_and_is_salted() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$")
    assert verify_password("correct horse", first) and not verify_password("wrong horse", first)
    assert not verify_password("x", "not-a-hash")


def test_store_adds_authenticates_and_keeps_the_file_private(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    store.add("dr.lee", "long-enough-pw", Role.RESPONDER)
    store.add("viewer1", "long-enough-pw", Role.VIEWER)
    assert stat.S_IMODE((tmp_path / "users.json").stat().st_mode) == 0o600
    assert "long-enough-pw" not in (tmp_path / "users.json").read_text()
    who = store.authenticate("dr.lee", "long-enough-pw")
    assert who is not None and who.role == Role.RESPONDER and who.may(Role.VIEWER) and not who.may(Role.OPS)
    assert store.authenticate("dr.lee", "wrong-password") is None
    assert store.authenticate("nobody", "long-enough-pw") is None
    assert store.role_of("viewer1") == Role.VIEWER and store.usernames() == ["dr.lee", "viewer1"]


def test_store_refuses_bad_names_and_short_passwords(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    with pytest.raises(ValueError, match="user name"):
        store.add("a b", "long-enough-pw", Role.VIEWER)
    with pytest.raises(ValueError, match="at least 10"):
        store.add("ok", "short", Role.VIEWER)


def test_proxy_headers_are_believed_only_from_a_trusted_address() -> None:
    headers = {"x-forwarded-user": "rn.kim", "x-forwarded-groups": "staff, sepsis-responders"}
    args = ("X-Forwarded-User", "X-Forwarded-Groups", GROUPS)
    who = identity_from_proxy("10.0.0.5", headers, ["10.0.0.0/24"], *args)
    assert who is not None and who.username == "rn.kim" and who.role == Role.RESPONDER and who.source == "proxy"
    assert identity_from_proxy("10.0.1.5", headers, ["10.0.0.0/24"], *args) is None
    assert identity_from_proxy("10.0.0.5", {"x-forwarded-user": "rn.kim", "x-forwarded-groups": "staff"},
                               ["10.0.0.0/24"], *args) is None  # no group with a role
    assert identity_from_proxy("10.0.0.5", {"x-forwarded-groups": "sepsis-ops"}, ["10.0.0.0/24"], *args) is None
    assert not is_trusted_proxy("not-an-ip", ["127.0.0.1"]) and not is_trusted_proxy(None, ["127.0.0.1"])


def test_highest_group_role_wins() -> None:
    headers = {"x-forwarded-user": "ops1", "x-forwarded-groups": "sepsis-viewers,sepsis-ops"}
    who = identity_from_proxy("127.0.0.1", headers, ["127.0.0.1"], "X-Forwarded-User", "X-Forwarded-Groups", GROUPS)
    assert who is not None and who.role == Role.OPS
