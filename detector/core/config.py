"""Validated detector configuration (window, timing, infection, ladder, escalation, learned risk model).

Every default comes from clinical-scores.md §3.2 (timing), §2.7 (Seymour windows),
§3.4 (ladder) and §3.5 (repeat / cool-down); rows marked [ENG] there are engineering
choices a clinical lead must sign off. `detector/config/default.yaml` mirrors these
defaults with a comment on every setting; `load_config(path)` reads and validates a
YAML file (unknown keys are rejected, so a typo fails at start-up, not at 3 a.m.).

All durations are in event time. Field names carry their unit (`_hours`, `_minutes`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from detector.core.rules.tables import NEWS2_BANDS, POSITIVE_AT, SEP1_ORGAN_DYSFUNCTION, SEP1_SEPTIC_SHOCK, SEPSIS3

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_TRIGGER_LEVELS",
    "SHOCK_SIGNS",
    "DetectorConfig",
    "EscalationConfig",
    "InfectionConfig",
    "LadderConfig",
    "RiskModelConfig",
    "TimingConfig",
    "WindowConfig",
    "load_config",
]

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "default.yaml"
INSTALL_ROOT = Path(__file__).resolve().parent.parent.parent
"""The folder holding the `detector` package (the repository root in a checkout): relative model paths start here."""
DEFAULT_RISK_MODEL_PATH = Path("detector/models/risk_model.json")


SOFA_BASELINE_REACH_HOURS = 96
"""How far back (whole hours of the SOFA window plus the baseline) the hourly SOFA history reaches: the patient
state keeps one more hour than this (detector.core.patient.SOFA_RING_HOURS), so recording the current hour never
overwrites an hour the baseline reads."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowConfig(_Strict):
    """Per-patient rolling window of raw values (event time)."""

    length_hours: float = Field(default=24.0, gt=0, le=96, description="values older than the patient's newest event "
                                "time minus this are evicted; 24 h = SOFA daily worst (Vincent 1996)")
    late_grace_hours: float = Field(default=24.0, ge=0, le=96, description="an observation older than the newest event "
                                    "time minus this is counted as late and dropped; within it, inserted in order")
    future_tolerance_minutes: float = Field(default=5.0, ge=0, le=1440,
        description="an observation whose effective time "
                                            "is this far after its own receive time is dropped (clock error)")
    max_entries_per_measure: int = Field(default=288, ge=8, le=10_000, description="hard cap per measure (288 = one "
                                         "value every 5 min for 24 h); the oldest is evicted beyond it")
    baseline_hours: float = Field(default=72.0, gt=0, le=SOFA_BASELINE_REACH_HOURS,
                                  description="SOFA baseline look-back before the current window (§3.2), kept as "
                                  "hourly worst SOFA totals; with timing.sofa_lab_window_hours (whole hours of "
                                  f"each) it may reach at most {SOFA_BASELINE_REACH_HOURS} h back, the hourly "
                                  "history a patient's state keeps")
    max_care_events: int = Field(default=32, ge=4, le=1000, description="cap on remembered care events per patient")


class TimingConfig(_Strict):
    """§3.2 detector defaults [ENG, configurable]."""

    observation_set_minutes: float = Field(default=15.0, gt=0, le=120, description="an observation set is the vitals "
                                           "within this of the newest vital (NEWS2/MEWS)")
    carry_forward_hours: float = Field(default=4.0, ge=0, le=12, description="a NEWS2/MEWS parameter missing from the "
                                       "newest set may be carried forward from a set at most this old")
    criteria_window_hours: float = Field(default=6.0, gt=0, le=24,
        description="SIRS/qSOFA/SEP-1 criteria count if met by "
                                         "any valid value in this trailing window (SEP-1 6 h)")
    shock_index_pair_minutes: float = Field(default=15.0, gt=0, le=120,
        description="HR and SBP of the shock index must "
                                            "be this close in time")
    sofa_lab_window_hours: float = Field(default=24.0, gt=0, le=48, description="SOFA uses the worst value in this "
                                         "trailing window")
    lactate_window_hours: float = Field(default=6.0, gt=0, le=24, description="lactate follows SEP-1: trailing window")
    pf_fio2_before_hours: float = Field(default=4.0, gt=0, le=12, description="FiO2 / oxygen status for a PaO2 must be "
                                        "recorded at most this long before the arterial sample")
    vital_stale_hours: float = Field(default=12.0, gt=0, le=48,
        description="vital signs older than this are never used")
    cannot_rule_out_hours: float = Field(default=4.0, gt=0, le=24, description="heart rate, respiratory rate or "
                                         "systolic BP older than this (or never recorded) make the patient's state "
                                         "'stale: cannot rule out': a low score from them does not resolve an episode, "
                                         "and alerts and metrics say so [ENG]")
    lab_stale_hours: float = Field(default=24.0, gt=0, le=72, description="labs older than this are never used")
    vasopressor_min_run_minutes: float = Field(default=60.0, ge=0, le=240,
        description="SOFA counts a catecholamine dose "
                                               "only if it has run this long (§1.5)")


class InfectionConfig(_Strict):
    """Suspected infection from care events, Seymour et al. 2016 (§2.7)."""

    antibiotic_then_culture_hours: float = Field(default=24.0, gt=0,
        description="antibiotic first, culture within this")
    culture_then_antibiotic_hours: float = Field(default=72.0, gt=0,
        description="culture first, antibiotic within this")
    relevant_after_onset_hours: float = Field(default=24.0, gt=0, description="infection counts for the ladder until "
                                              "this long after onset (Seymour: SOFA judged up to +24 h)")
    treatment_lookback_hours: float = Field(default=72.0, gt=0,
        description="an antibiotic ordered or given this recently "
                                            "means treatment has started")


DEFAULT_TRIGGER_LEVELS: dict[str, int] = {
    "septic_shock": 4, "lactate": 4, "shock_index": 4,
    "sep1_severe_sepsis": 3, "sepsis3": 3,
    "news2_emergency": 2, "news2_urgent": 2, "qsofa": 2, "sirs_infection": 2,
    "news2_red": 1,
}
"""Ladder level each classic trigger raises the patient to (docs/paging.md has the measurement behind it).

§3.4 puts NEWS2 >= 7 at level 3; on set A it added 8 points of sensitivity for 19 points more patients
paged, a worse trade than the learned score's own (§3.6 lets measurement overrule §3.4), so it is level 2: a
reason and a console flag, not a page. The septic-shock signs stay at level 4 (§3.6: they always reach a person)."""
SHOCK_SIGNS: tuple[str, ...] = ("septic_shock", "lactate", "shock_index")
"""Level-4 triggers a configuration may not lower (clinical-scores.md §3.6)."""


class LadderConfig(_Strict):
    """§3.4 escalation ladder thresholds, and the level each trigger raises.

    Each threshold's default is the clinical rule it applies, read from detector/core/rules/tables.py when the
    configuration is built (so a change of the rule there changes the ladder too); a site may set its own here."""

    news2_urgent: int = Field(default_factory=lambda: int(NEWS2_BANDS["medium"].limit), ge=1, le=20,
                              description="level 2: NEWS2 at or above (RCP urgent response; default: the medium band)")
    news2_emergency: int = Field(default_factory=lambda: int(NEWS2_BANDS["high"].limit), ge=1, le=20,
                                 description="level 3: NEWS2 at or above (RCP emergency response; default: the high "
                                 "band)")
    qsofa_urgent: int = Field(default_factory=lambda: int(POSITIVE_AT["qsofa"].limit), ge=1, le=3,
                              description="level 2: qSOFA at or above (Singer 2016; default: qSOFA-positive)")
    sirs_with_infection_urgent: int = Field(default_factory=lambda: int(POSITIVE_AT["sirs"].limit), ge=1, le=4,
                                            description="level 2: SIRS at or above with suspected infection "
                                            "(default: SIRS-positive)")
    sofa_rise_with_infection: int = Field(default_factory=lambda: int(SEPSIS3["sofa_rise"].limit), ge=1, le=24,
                                          description="level 3: SOFA rise from baseline at or above, with suspected "
                                          "infection (Sepsis-3)")
    lactate_critical: float = Field(default_factory=lambda: float(SEP1_SEPTIC_SHOCK["lactate"].limit), gt=0, le=30,
                                    description="level 4: lactate mmol/L at or above (SEP-1 septic shock)")
    shock_index_critical: float = Field(default_factory=lambda: float(POSITIVE_AT["shock_index"].limit), gt=0, le=5,
                                        description="level 4: shock index at or above, with hypotension (default: "
                                        "the elevated band)")
    hypotension_sbp_below: float = Field(default_factory=lambda: float(SEP1_ORGAN_DYSFUNCTION["sbp"].limit), gt=0,
                                         le=200, description="hypotension: SBP below (SEP-1)")
    hypotension_map_below: float = Field(default_factory=lambda: float(SEP1_ORGAN_DYSFUNCTION["map"].limit), gt=0,
                                         le=200, description="hypotension: MAP below (SEP-1)")
    shock_index_confirm_sets: int = Field(default=2, ge=1, le=6, description="the shock-index-with-hypotension "
                                          "trigger counts once this many consecutive observation sets meet it "
                                          "(SEP-1's persistent hypotension: two consecutive readings); 1 = at once "
                                          "[ENG]")
    trigger_levels: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_TRIGGER_LEVELS),
        description="level 0-4 each trigger raises the patient to (0: shown as a reason, raises nothing); "
                    "triggers not named keep their default; the septic-shock signs stay at 4 (§3.6)")

    @model_validator(mode="before")
    @classmethod
    def _fill_levels(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("trigger_levels"), dict):
            data = {**data, "trigger_levels": {**DEFAULT_TRIGGER_LEVELS, **data["trigger_levels"]}}
        return data

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.news2_emergency <= self.news2_urgent:
            raise ValueError(f"ladder.news2_emergency ({self.news2_emergency}) must be above "
                             f"ladder.news2_urgent ({self.news2_urgent})")
        unknown = sorted(set(self.trigger_levels) - set(DEFAULT_TRIGGER_LEVELS))
        if unknown:
            raise ValueError(f"ladder.trigger_levels: unknown trigger(s) {unknown}; known: "
                             f"{sorted(DEFAULT_TRIGGER_LEVELS)}")
        for trigger, level in self.trigger_levels.items():
            if not 0 <= level <= 4:
                raise ValueError(f"ladder.trigger_levels.{trigger}: a level 0-4 is needed, got {level}")
            if trigger in SHOCK_SIGNS and level != 4:
                raise ValueError(f"ladder.trigger_levels.{trigger}: septic-shock signs stay at level 4 "
                                 f"(clinical-scores.md §3.6: they always reach a person), got {level}")
        return self


def _default_repeats() -> dict[int, float | None]:
    # §3.5: re-alert on escalation only; reminders until acknowledgement belong to the notifier.
    return {1: None, 2: None, 3: None, 4: None}


class EscalationConfig(_Strict):
    """§3.5 repeat / cool-down rules and the hysteresis that stops alert storms."""

    de_escalation_hold_minutes: float = Field(default=60.0, ge=0, le=1440, description="a lower level must hold this "
                                              "long before `de-escalated` (escalation is immediate)")
    resolve_clear_sets: int = Field(default=2, ge=1, le=10, description="`resolved` needs this many consecutive "
                                    "observation sets with every trigger below threshold (§3.5)")
    resolve_hold_minutes: float = Field(default=60.0, ge=0, le=1440, description="... and the clear run must span at "
                                        "least this long (hysteresis against flapping)")
    repeat_minutes: dict[int, float | None] = Field(
        default_factory=_default_repeats,
        description="reminder (`repeated`) interval in minutes per level while it persists; null = never "
                    "(default: never, §3.5 re-alert on escalation only; RCP high = 30 min if wanted)")
    risk_rise_multiple: float = Field(
        default=2.0, gt=1.0, le=100, description="while the level stays the same, a `repeated` alert once the "
        "learned risk reaches this multiple of the risk carried by the episode's last alert, so the notifier sees "
        "the rise (it re-pages an acknowledged episode at paging.ack_risk_multiple x the acknowledged risk: keep "
        "the two equal) [ENG]")
    feed_gap_notices: bool = Field(
        default=False, description="the stream announces a feed gap of an open episode once (`repeated` with "
        "cannot_rule_out, never a page) when its heart rate, respiratory rate or systolic BP is older than "
        "timing.cannot_rule_out_hours at the partition's event-time watermark (docs/paging.md section 5); opt-in: "
        "a detector killed mid-stream can announce a gap differently than an uninterrupted run, and it does not "
        "fit patients whose event times are not aligned (stays replayed one after another by several senders)")
    incomplete_low_blocks_resolution: bool = Field(default=True, description="an incomplete NEWS2 `low` never counts "
                                                   "towards de-escalation or resolution (§3.3)")
    incomplete_low_uncharted_counts: bool = Field(
        default=True, description="an incomplete NEWS2 `low` still counts towards resolution when every parameter "
        "it lacks has no value anywhere in the patient's window (the feed does not chart it, e.g. no consciousness "
        "charting): waiting for it would keep the episode open for ever; a parameter charted earlier but missing "
        "now still blocks (§3.3)")

    @model_validator(mode="after")
    def _levels(self) -> Self:
        unknown = set(self.repeat_minutes) - {1, 2, 3, 4}
        if unknown:
            raise ValueError(f"escalation.repeat_minutes: levels must be 1-4, got {sorted(unknown)}")
        for level, minutes in self.repeat_minutes.items():
            if minutes is not None and minutes <= 0:
                raise ValueError(f"escalation.repeat_minutes[{level}]: must be > 0 or null, got {minutes}")
        return self


class RiskModelConfig(_Strict):
    """The learned risk score (issue #8) as one more ladder trigger: probability thresholds per level.

    The model is trained on ICU hours labelled septic (onset within ~6 h, PhysioNet 2019); its probability is
    calibrated on out-of-fold predictions (docs/model-card.md). Decision support, not a diagnosis.
    """

    enabled: bool = Field(default=True, description="score every patient with the learned model (once per source "
                          "message, like the classic scores) and let it raise the ladder level")
    path: Path = Field(default=DEFAULT_RISK_MODEL_PATH, description="model artifact (JSON from `sepsis-alert train`); "
                       "a relative path is resolved against the folder holding the `detector` package, so the "
                       "shipped default works from any working directory")
    thresholds: dict[int, float] | None = Field(
        default_factory=lambda: {2: 0.03, 3: 0.05},
        description="ladder level -> calibrated probability at or above which the model triggers it; default: "
        "level 2 (console flag) at the artifact's utility threshold, level 3 (pages) at the threshold chosen by "
        "patient-grouped cross-validation for the page budget (docs/paging.md) [ENG]; null = the artifact's "
        "suggested thresholds")
    required: bool = Field(default=True, description="true: refuse to start when the artifact is missing or does not "
                           "match the code's feature list; false: run without the model (warning, metric, readiness "
                           "detail)")

    @model_validator(mode="after")
    def _thresholds(self) -> Self:
        if self.thresholds is None:
            return self
        if not self.thresholds:
            raise ValueError("risk_model.thresholds: give at least one level, or null for the artifact's")
        unknown = sorted(set(self.thresholds) - {1, 2, 3, 4})
        if unknown:
            raise ValueError(f"risk_model.thresholds: levels must be 1-4, got {unknown}")
        previous: tuple[int, float] | None = None
        for level in sorted(self.thresholds):
            value = self.thresholds[level]
            if not 0.0 < value <= 1.0:
                raise ValueError(f"risk_model.thresholds[{level}]: a probability in (0, 1] is needed, got {value}")
            if previous is not None and value <= previous[1]:
                raise ValueError(f"risk_model.thresholds[{level}] ({value}) must be above the threshold of the "
                                 f"lower level {previous[0]} ({previous[1]})")
            previous = (level, value)
        return self

    def resolved_path(self) -> Path:
        """`path` made absolute (relative paths start at INSTALL_ROOT, see `path`)."""
        return self.path if self.path.is_absolute() else INSTALL_ROOT / self.path


class DetectorConfig(_Strict):
    """The whole detector configuration."""

    rules_version: str = Field(default="1", min_length=1, max_length=32,
        description="copied into every alert for audit")
    window: WindowConfig = WindowConfig()
    timing: TimingConfig = TimingConfig()
    infection: InfectionConfig = InfectionConfig()
    ladder: LadderConfig = Field(default_factory=LadderConfig)  # built when used: its defaults read the tables
    escalation: EscalationConfig = EscalationConfig()
    risk_model: RiskModelConfig = RiskModelConfig()

    @model_validator(mode="after")
    def _cross(self) -> Self:
        longest = max(self.timing.sofa_lab_window_hours, self.timing.lab_stale_hours, self.timing.vital_stale_hours,
                      self.timing.criteria_window_hours + self.timing.pf_fio2_before_hours)
        if self.window.length_hours < longest:
            raise ValueError(f"window.length_hours ({self.window.length_hours}) must cover the longest look-back "
                             f"of timing ({longest} h)")
        reach = int(self.timing.sofa_lab_window_hours) + int(self.window.baseline_hours)
        if reach > SOFA_BASELINE_REACH_HOURS:
            raise ValueError(f"window.baseline_hours ({self.window.baseline_hours}) + timing.sofa_lab_window_hours "
                             f"({self.timing.sofa_lab_window_hours}) reach {reach} h back; the hourly SOFA history "
                             f"holds {SOFA_BASELINE_REACH_HOURS} h")
        return self


def load_config(path: Path | str | None = None) -> DetectorConfig:
    """Read and validate a YAML config (the packaged default when `path` is None).

    Raises ValueError naming the file and the bad field on invalid content.
    """
    file = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{file}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{file}: top level must be a mapping, got {type(data).__name__}")
    try:
        return DetectorConfig.model_validate(data)
    except Exception as exc:  # pydantic ValidationError: name the file too
        raise ValueError(f"{file}: {exc}") from exc
