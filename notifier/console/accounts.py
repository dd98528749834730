"""Who may use the console and what each role may do: local accounts and trusted-proxy sign-on (pure rules).

- Roles: `viewer` reads; `responder` also acknowledges, snoozes, closes and comments; `ops` also manages
  silences and reads the feed pages. Each role includes the ones before it.
- Local accounts live in a JSON file (`console_users_file`), passwords as scrypt hashes (stdlib hashlib,
  n=2**14, r=8, p=1, 16-byte salt), written by `sepsis-alert console add-user`.
- Single sign-on through an authenticating reverse proxy (the oauth2-proxy convention): the user and groups
  headers are believed only on a connection from one of the configured proxy addresses; groups map to roles.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

__all__ = ["Account", "Role", "UserStore", "hash_password", "identity_from_proxy", "is_trusted_proxy",
           "role_from_groups", "verify_password"]

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
MIN_PASSWORD_CHARS = 10


class Role(IntEnum):
    """Ordered: a higher role may do everything a lower one may."""

    VIEWER = 1
    RESPONDER = 2
    OPS = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise ValueError(f"role: {name!r} is not one of viewer, responder, ops") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Account:
    """A signed-in person (local or from the proxy)."""

    username: str
    role: Role
    source: str = "local"

    def may(self, needed: Role) -> bool:
        return self.role >= needed


def hash_password(password: str, salt: bytes | None = None) -> str:
    """`scrypt$<salt b64>$<hash b64>`."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time comparison; False for a malformed stored value."""
    try:
        scheme, salt_b64, hash_b64 = stored.split("$")
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(hash_b64)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=len(expected), **_SCRYPT)
    return hmac.compare_digest(digest, expected)


_DUMMY_HASH = hash_password(secrets.token_hex(8))
"""Checked against when the user is unknown, so a wrong user name costs the same time as a wrong password."""


class UserStore:
    """The local accounts file: {"users": {name: {"role": ..., "password": "scrypt$..."}}}."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"console users file {self.path} cannot be read ({type(exc).__name__})") from None
        users = data.get("users") if isinstance(data, dict) else None
        if not isinstance(users, dict):
            raise ValueError(f"console users file {self.path}: no \"users\" object")
        return {str(k): v for k, v in users.items() if isinstance(v, dict)}

    def usernames(self) -> list[str]:
        return sorted(self._read())

    def add(self, username: str, password: str, role: Role) -> None:
        """Create or replace an account (the file is written with mode 0600, atomically)."""
        if not USERNAME.match(username):
            raise ValueError(f"user name {username!r}: 1-64 letters, digits or . _ @ -")
        if len(password) < MIN_PASSWORD_CHARS:
            raise ValueError(f"password: at least {MIN_PASSWORD_CHARS} characters")
        users = self._read()
        users[username] = {"role": role.label, "password": hash_password(password)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"users": users}, out, indent=2, sort_keys=True)
        os.replace(tmp, self.path)

    def authenticate(self, username: str, password: str) -> Account | None:
        """The account when the password matches; None otherwise (same cost either way)."""
        entry = self._read().get(username)
        if entry is None:
            verify_password(password, _DUMMY_HASH)
            return None
        if not verify_password(password, str(entry.get("password", ""))):
            return None
        try:
            return Account(username, Role.parse(str(entry.get("role", ""))))
        except ValueError:
            return None

    def role_of(self, username: str) -> Role | None:
        """The current role of an account (a session is re-checked with it, so a removed user is signed out)."""
        entry = self._read().get(username)
        if entry is None:
            return None
        try:
            return Role.parse(str(entry.get("role", "")))
        except ValueError:
            return None


def is_trusted_proxy(client_host: str | None, proxies: Iterable[str]) -> bool:
    """True when the connection comes from one of `proxies` (addresses or CIDR networks)."""
    if not client_host:
        return False
    try:
        address = ipaddress.ip_address(client_host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(p, strict=False) for p in proxies)


def role_from_groups(groups: Iterable[str], group_roles: Mapping[str, str]) -> Role | None:
    """The highest role any of the groups maps to; None when none does."""
    roles = [Role.parse(group_roles[g]) for g in groups if g in group_roles]
    return max(roles) if roles else None


def identity_from_proxy(client_host: str | None, headers: Mapping[str, str], proxies: Iterable[str],
                        user_header: str, groups_header: str, group_roles: Mapping[str, str]) -> Account | None:
    """The person the proxy vouches for, or None (not from a trusted proxy, no user, no group with a role)."""
    if not is_trusted_proxy(client_host, proxies):
        return None
    user = (headers.get(user_header.lower()) or "").strip()
    if not user or not USERNAME.match(user):
        return None
    groups = [g.strip() for g in (headers.get(groups_header.lower()) or "").split(",") if g.strip()]
    role = role_from_groups(groups, group_roles)
    return Account(user, role, source="proxy") if role is not None else None
