"""Pure clinical scores (clinical-scores.md). Work in progress: see inputs.py for the API."""

from detector.core.scores.inputs import ScoreInputError, ScoreInputs, ScoreResult, derived_map

__all__ = ["ScoreInputError", "ScoreInputs", "ScoreResult", "derived_map"]
