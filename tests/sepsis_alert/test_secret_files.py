"""The one reader of `*_FILE` secrets: what a file yields, and errors that name the setting, never the secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from sepsis_alert.secret_files import fold_secret_files, read_secret_file, secret_file_lines, secret_from


def test_file_content_stripped_is_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("  s3cret#with-hash \n\n", encoding="utf-8")
    assert read_secret_file(path, "api_token_file").get_secret_value() == "s3cret#with-hash"


def test_empty_or_missing_file_names_the_setting(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text(" \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^api_token_file: '.*empty' is empty$"):
        read_secret_file(empty, "api_token_file")
    with pytest.raises(ValueError, match=r"^api_token_file: '.*missing' cannot be read \(FileNotFoundError\)$"):
        read_secret_file(tmp_path / "missing", "api_token_file")


def test_token_list_drops_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("# rotated 2024-05\nalpha\n\n beta read  # metadata only\n#gamma\n", encoding="utf-8")
    assert secret_file_lines(path, "tokens_file") == ["alpha", "beta read"]


def test_value_or_file_never_both(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("from-file", encoding="utf-8")
    assert secret_from(None, None, "link_secret") is None
    assert secret_from(SecretStr("given"), None, "link_secret") == SecretStr("given")
    assert secret_from(None, path, "link_secret") == SecretStr("from-file")
    with pytest.raises(ValueError, match="set link_secret or link_secret_file, not both"):
        secret_from(SecretStr("given"), path, "link_secret")


def test_fold_reads_each_file_into_its_setting_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "link"
    path.write_text("the-link-secret\n", encoding="utf-8")
    folded = fold_secret_files({"link_secret_file": str(path), "api_token_file": "", "port": 8080},
                               ["link_secret", "api_token"])
    assert folded == {"link_secret_file": str(path), "link_secret": SecretStr("the-link-secret"),
                      "api_token_file": "", "port": 8080}
    with pytest.raises(ValueError, match="not both") as caught:
        fold_secret_files({"link_secret": "inline-value", "link_secret_file": str(path)}, ["link_secret"])
    assert "inline-value" not in str(caught.value) and "the-link-secret" not in str(caught.value)
    assert fold_secret_files("not a mapping", ["link_secret"]) == "not a mapping"
