"""`sepsis-alert score` end to end: the real console script in a subprocess, on the §4 examples and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.detector.core.scores.worked_examples import EXAMPLES

SCRIPT = Path(sys.executable).with_name("sepsis-alert")
TIMEOUT_S = 120


def _score(stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), "score", *args], input=stdin, capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)


def test_worked_examples_through_the_console_script() -> None:
    stdin = "".join(json.dumps(example.inputs) + "\n" for example in EXAMPLES)
    done = _score(stdin)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    outputs = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(outputs) == len(EXAMPLES)
    for number, (example, out) in enumerate(zip(EXAMPLES, outputs, strict=True), start=1):
        assert out["line"] == number
        for key in ("sirs", "sirs_sep1", "qsofa", "news2", "news2_band", "mews", "sofa", "shock_index"):
            if key in example.expected:
                assert out[key] == example.expected[key], (example.id, key)
        if "sofa_points" in example.expected:
            assert tuple(out["sofa_points"].values()) == example.expected["sofa_points"], example.id
        assert isinstance(out["incomplete"], bool)
        assert isinstance(out["missing"], list)


def test_e14_output_in_full() -> None:
    done = _score('{"hr": 118, "sbp": 88}\n')
    assert done.returncode == 0
    out = json.loads(done.stdout)
    assert out["news2"] == 5 and out["news2_band"] == "medium"
    assert out["shock_index"] == 1.34
    assert out["incomplete"] is True
    assert "news2" in out["incomplete_scores"]
    assert out["missing"][:3] == ["rr", "temp_c", "map"]


def test_explain_and_infection_flags() -> None:
    e9 = next(example for example in EXAMPLES if example.id == "E9")
    done = _score(json.dumps(e9.inputs) + "\n", "--explain", "--infection-suspected")
    out = json.loads(done.stdout)
    assert out["sep1_severe_sepsis"] is True and out["sep1_septic_shock"] is True
    assert out["reasons"]["news2"].startswith("NEWS2 18 (high)")


def test_bad_lines_are_reported_by_key_and_line_and_the_rest_is_scored() -> None:
    stdin = "\n".join([
        '{"hr": 72, "sbp": 124}',
        '{"hr": "fast"}',
        "",
        '{"pulse": 80}',
        "not json",
        "[1, 2]",
        '{"fio2": 40}',
        '{"consciousness": "confused"}',
        '{"hr": 118, "sbp": 88}',
    ]) + "\n"
    done = _score(stdin)
    assert done.returncode == 1
    errors = done.stderr.splitlines()
    assert errors[0].startswith("line 2: hr: must be a number")
    assert errors[1].startswith("line 4: pulse: unknown input key")
    assert errors[2].startswith("line 5: invalid JSON")
    assert errors[3] == "line 6: expected a JSON object, got list"
    assert errors[4].startswith("line 7: fio2: 40 is outside the plausible range")
    assert errors[5].startswith("line 8: consciousness: must be one of A/C/V/P/U")
    assert len(errors) == 6
    scored = [json.loads(line) for line in done.stdout.splitlines()]
    assert [out["line"] for out in scored] == [1, 9]
    assert scored[1]["news2"] == 5


def test_empty_input_is_fine() -> None:
    done = _score("")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
