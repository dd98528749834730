"""One edit of a threshold in detector/core/rules/tables.py changes every path that applies it.

The paths: the score function, the per-parameter helpers and the worst-value choice (scores/worst.py), the
engine as `sepsis-alert detect` runs it (no hook: only the scores the ladder reads, the rest completed for an
alert), the engine with an `on_scored` hook (as `make eval` runs it), the engine recomputing every score
(`incremental = False`), and the engine's input selection (timing.py picks which value of the window a
two-sided SIRS criterion reads).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from detector.core.config import DetectorConfig, RiskModelConfig
from detector.core.engine import DetectorEngine
from detector.core.rules import tables
from detector.core.rules.kinds import Cascade, Limit, Outside
from detector.core.scores import ScoreInputs, ScoreResult, news2, points_for, sirs_bone, worst_for
from detector.core.scores.news2 import hr_points
from tests.detector.builders import NORMAL, at, message

NO_MODEL = DetectorConfig(risk_model=RiskModelConfig(enabled=False))
HR = 85  # NEWS2 pulse band "51-90 → 0" as published; the edit below moves its top to 80, so 85 scores 1


def _edited_hr_band() -> Cascade:
    published = tables.NEWS2["hr"]
    steps = tuple(("<=", 80, 0) if (op, limit, pts) == ("<=", 90, 0) else (op, limit, pts)
                  for op, limit, pts in published.steps)
    assert steps != published.steps, "the published NEWS2 pulse band 51-90 → 0 is in the table"
    return replace(published, steps=steps)


def _engine_news2(mode: str) -> list[ScoreResult]:
    """NEWS2 of every scoring of one patient with HR 85, through the engine in `mode`."""
    seen: list[ScoreResult] = []
    engine = DetectorEngine(NO_MODEL)
    if mode == "hook":
        engine.on_scored = lambda key, t, scores, level: seen.append(scores["news2"])
    elif mode == "reference":
        engine.incremental = False
    for hour in range(3):
        for event in message("p1", at(hour), **{**NORMAL, "hr": HR}):
            engine.process(event)
        if mode != "hook":
            seen.append(engine.current_scores("p1")["news2"])
    return seen


def _all_paths() -> dict[str, object]:
    inputs = ScoreInputs(hr=HR)
    return {
        "score function": news2(inputs).points["hr"],
        "point helper": hr_points(HR),
        "points_for": points_for("news2", "hr", HR),
        "worst_for": worst_for("news2", "hr", [60, HR]),
        **{f"engine ({mode})": [r.points["hr"] for r in _engine_news2(mode)]
           for mode in ("stream", "hook", "reference")},
    }


@pytest.fixture
def edited(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(tables.NEWS2, "hr", _edited_hr_band())
    yield


def test_published_band_scores_85_as_0() -> None:
    paths = _all_paths()
    assert paths["score function"] == paths["point helper"] == paths["points_for"] == 0
    assert paths["worst_for"] == 60 or paths["worst_for"] == HR  # both score 0: a tie
    for mode in ("stream", "hook", "reference"):
        assert paths[f"engine ({mode})"] == [0, 0, 0]


@pytest.mark.usefixtures("edited")
def test_editing_one_news2_band_changes_every_path() -> None:
    paths = _all_paths()
    assert paths["score function"] == paths["point helper"] == paths["points_for"] == 1
    assert paths["worst_for"] == HR  # now the only value that scores
    for mode in ("stream", "hook", "reference"):
        assert paths[f"engine ({mode})"] == [1, 1, 1], mode


def _engine_sirs_temperature(monkeypatch: pytest.MonkeyPatch | None) -> tuple[object, object]:
    """The SIRS temperature criterion the engine reads after 36.2 °C then 37.9 °C within 6 h."""
    if monkeypatch is not None:  # a clinical lead raises the low limit from < 36.0 to < 36.5
        monkeypatch.setitem(tables.SIRS_BONE, "temperature", Outside(below=36.5, above=38.0))
    seen: list[ScoreResult] = []
    engine = DetectorEngine(NO_MODEL, on_scored=lambda key, t, scores, level: seen.append(scores["sirs"]))
    for hour, temp in ((0, 36.2), (1, 37.9)):
        for event in message("p1", at(hour), **{**NORMAL, "temp": temp}):
            engine.process(event)
    last = seen[-1]
    return last.points["temperature"], sirs_bone(ScoreInputs(temp_c=36.2)).points["temperature"]


def test_editing_a_sirs_limit_changes_the_engines_input_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _engine_sirs_temperature(None) == (0, 0)
    # After the edit 36.2 meets the low side: the engine must pick it over the newer, higher 37.9.
    assert _engine_sirs_temperature(monkeypatch) == (1, 1)


def _news2_five() -> tuple[str, int]:
    """(NEWS2 band, ladder level) of one scoring with NEWS2 5 and no single red score, default configuration."""
    seen: list[tuple[str, int]] = []
    engine = DetectorEngine(DetectorConfig(risk_model=RiskModelConfig(enabled=False)),
                            on_scored=lambda key, t, scores, level: seen.append((str(scores["news2"].band), level)))
    vitals = {**NORMAL, "rr": 21, "hr": 95, "temp": 38.5, "spo2": 95}  # 2 + 1 + 1 + 1
    for event in message("p1", at(0), **vitals):
        engine.process(event)
    assert seen
    return seen[-1]


def test_editing_a_news2_band_limit_changes_the_band_and_the_ladder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ladder's NEWS2 urgent threshold defaults to the table's medium band (RCP urgent response)."""
    assert _news2_five() == ("medium", 2)
    monkeypatch.setitem(tables.NEWS2_BANDS, "medium", Limit(">=", 6))
    assert _news2_five() == ("low", 0)
