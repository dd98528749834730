"""Secrets given either as a value or as a file: the one reader behind every `*_FILE` setting.

A file is how a secret arrives in a container (a mounted Kubernetes Secret, a Docker secret): its content,
surrounding whitespace stripped, is the secret. Lists of bearer tokens are read line by line, `#` starting a
comment (RFC 6750 tokens cannot contain `#`). Errors name the setting and the path, never the content.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import SecretStr

__all__ = ["fold_secret_files", "read_secret_file", "secret_file_lines", "secret_from"]


def _read(path: Path | str, setting: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{setting}: {str(path)!r} cannot be read ({type(exc).__name__})") from None


def read_secret_file(path: Path | str, setting: str) -> SecretStr:
    """The secret a file holds (surrounding whitespace stripped); ValueError when unreadable or empty."""
    value = _read(path, setting).strip()
    if not value:
        raise ValueError(f"{setting}: {str(path)!r} is empty")
    return SecretStr(value)


def secret_file_lines(path: Path | str, setting: str) -> list[str]:
    """The non-empty lines of a token-list file, `#` comments removed; ValueError when unreadable."""
    lines = (line.split("#", 1)[0].strip() for line in _read(path, setting).splitlines())
    return [line for line in lines if line]


def secret_from(value: SecretStr | None, path: Path | None, setting: str) -> SecretStr | None:
    """`value`, else the content of `path`, else None; both at once is an error (which one would win?)."""
    if value is not None and path is not None:
        raise ValueError(f"set {setting} or {setting}_file, not both")
    if path is not None:
        return read_secret_file(path, f"{setting}_file")
    return value


def fold_secret_files(data: object, names: Iterable[str]) -> object:
    """For a `model_validator(mode="before")`: read each `<name>_file` into `<name>`, so that the model's own
    checks see the real secret. Raw input that is not a mapping is returned unchanged for pydantic to reject."""
    if not isinstance(data, dict):
        return data
    folded = dict(data)
    for name in names:
        path = folded.get(f"{name}_file")
        if path in (None, ""):
            continue
        given = folded.get(name)
        folded[name] = secret_from(given if given is None or isinstance(given, SecretStr) else SecretStr(str(given)),
                                   Path(str(path)), name)
    return folded
