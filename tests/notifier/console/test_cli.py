"""`sepsis-alert console add-user | list-users` as a person runs it (a real process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from notifier.console.accounts import Role, UserStore


def _cli(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "SEPSIS_NOTIFIER_CONSOLE_USERS_FILE"}
    return subprocess.run([sys.executable, "-m", "sepsis_alert.cli", "console", *args], input=stdin, text=True,
                          capture_output=True, timeout=120, env={**base, **(env or {})})


def test_add_user_writes_a_hashed_account_the_console_can_check(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    done = _cli("add-user", "rn.kim", "--role", "viewer", stdin="a-long-password\n",
                env={"SEPSIS_NOTIFIER_CONSOLE_USERS_FILE": str(path)})
    assert done.returncode == 0 and "rn.kim (viewer)" in done.stdout
    account = UserStore(path).authenticate("rn.kim", "a-long-password")
    assert account is not None and account.role == Role.VIEWER
    listed = _cli("list-users", "--users-file", str(path))
    assert listed.stdout.strip() == "rn.kim\tviewer"


def test_errors_are_one_line(tmp_path: Path) -> None:
    short = _cli("add-user", "x", "--users-file", str(tmp_path / "u.json"), stdin="short\n")
    assert short.returncode == 2 and short.stderr.strip() == "sepsis-alert console: password: at least 10 characters"
    nowhere = _cli("list-users")
    assert nowhere.returncode == 2 and len(nowhere.stderr.strip().splitlines()) == 1
    assert "SEPSIS_NOTIFIER_CONSOLE_USERS_FILE" in nowhere.stderr
