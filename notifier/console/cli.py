"""`sepsis-alert console add-user | list-users`: the console's local accounts file.

    sepsis-alert console add-user dr.lee --role responder     # asks for the password twice (or reads stdin)
    sepsis-alert console list-users

The file is SEPSIS_NOTIFIER_CONSOLE_USERS_FILE (or --users-file); the notifier re-reads it on every request,
so a new account or a changed role applies without a restart.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from notifier.console.accounts import Role, UserStore

__all__ = ["register"]


class _UsersFileSetting(BaseSettings):
    """Only the notifier's SEPSIS_NOTIFIER_CONSOLE_USERS_FILE (documented with NotifierSettings): managing
    accounts must not need the notifier's secrets."""

    model_config = SettingsConfigDict(env_prefix="SEPSIS_NOTIFIER_", extra="ignore")

    console_users_file: Path | None = None


def _store(args: argparse.Namespace) -> UserStore:
    if args.users_file is not None:
        return UserStore(Path(args.users_file))
    path = _UsersFileSetting().console_users_file
    if path is None:
        raise ValueError("no accounts file: pass --users-file or set SEPSIS_NOTIFIER_CONSOLE_USERS_FILE")
    return UserStore(path)


def _password(args: argparse.Namespace) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"password for {args.username}: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def _add_user(args: argparse.Namespace) -> int:
    store = _store(args)
    store.add(args.username, _password(args), Role.parse(args.role))
    print(f"account {args.username} ({args.role}) written to {store.path}")
    return 0


def _list_users(args: argparse.Namespace) -> int:
    store = _store(args)
    for name in store.usernames():
        role = store.role_of(name)
        print(f"{name}\t{role.label if role is not None else 'invalid role'}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `console` with `add-user` and `list-users`."""
    console = subparsers.add_parser("console", help="manage the console's local accounts",
                                    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = console.add_subparsers(dest="console_command", metavar="ACTION", required=True)
    add = commands.add_parser("add-user", help="create an account or replace its password and role")
    add.add_argument("username")
    add.add_argument("--role", choices=[r.label for r in Role], default="responder",
                     help="viewer reads; responder also acknowledges, snoozes, closes; ops also silences")
    add.add_argument("--users-file", help="accounts file (default: SEPSIS_NOTIFIER_CONSOLE_USERS_FILE)")
    add.set_defaults(func=_add_user)
    listing = commands.add_parser("list-users", help="list the accounts and their roles")
    listing.add_argument("--users-file", help="accounts file (default: SEPSIS_NOTIFIER_CONSOLE_USERS_FILE)")
    listing.set_defaults(func=_list_users)
