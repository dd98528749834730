"""Without the `[train]` extra the workers' CLI still works, and a training command says which extra to install."""

from __future__ import annotations

import subprocess
import sys

from sepsis_alert.cli import EXIT_USAGE, TRAIN_EXTRA
from tests.sepsis_alert.cli_subprocess import REPO, one_line

# Runs the real CLI in a child interpreter where the training libraries cannot be imported (as after a plain
# `pip install sepsis-alert`): a None entry in sys.modules makes `import lightgbm` raise ModuleNotFoundError.
_WITHOUT_TRAINING = """
import sys
for name in ("lightgbm", "sklearn", "matplotlib", "tqdm"):
    sys.modules[name] = None
from sepsis_alert.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _cli_without_training(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _WITHOUT_TRAINING, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)


def test_train_without_the_extra_names_it_in_one_line() -> None:
    result = _cli_without_training("train", "physionet", "../shared/data/physionet2019")
    assert result.returncode == EXIT_USAGE
    line = one_line(result.stderr)
    assert TRAIN_EXTRA in line and "lightgbm" in line and "Traceback" not in result.stderr


def test_eval_without_the_extra_names_it_in_one_line(tmp_path: object) -> None:
    result = _cli_without_training("eval", "physionet", str(REPO.parent / "shared" / "data" / "physionet2019"),
                                   "--out", str(tmp_path))
    assert result.returncode == EXIT_USAGE, result.stderr
    assert TRAIN_EXTRA in one_line(result.stderr) and "Traceback" not in result.stderr


def test_worker_commands_are_all_there_without_the_extra() -> None:
    result = _cli_without_training("--help")
    assert result.returncode == 0, result.stderr
    for command in ("ingest-hl7", "ingest-fhir", "detect", "notify", "topics", "run"):
        assert f"    {command} " in result.stdout or f"    {command}\n" in result.stdout, command
