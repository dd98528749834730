"""How good are hourly alert predictions? (pure numpy; no I/O, no clock)

The time index is the row of a patient's file: row t is ICU hour t+1 (ICULOS), and a
prediction for row t is whether an alert was active once that hour's data were in.

Normalised utility: the PhysioNet/CinC 2019 challenge score (Reyna MA et al., Crit Care
Med 2020;48(2):210-217), written from the published definition and the behaviour of the
organisers' `evaluate_sepsis_score.py`:

* onset `t_sepsis` = first row with SepsisLabel = 1, plus 6 (the files shift the label
  6 h before onset); a patient with no label is non-septic (`t_sepsis` = infinity);
* for a septic patient, an alert at `d = t - t_sepsis` hours earns
  `max(u_fp, (d - dt_early) / (dt_optimal - dt_early) * max_u_tp)` up to `dt_optimal`
  (so 0 at -12 h rising to 1 at -6 h, and u_fp for alerts earlier than -12 h), then falls
  linearly to 0 at `dt_late` (+3 h); no alert costs 0 up to -6 h, then falls linearly to
  `min_u_fn` at +3 h; rows after `t_sepsis + dt_late` score 0 either way;
* a non-septic patient's alert costs `u_fp` per row, silence earns `u_tn`;
* normalised = (observed - inaction) / (best - inaction) summed over the cohort, where
  inaction never alerts and best alerts exactly from `t_sepsis + dt_early` to
  `t_sepsis + dt_late` (clipped to the stay).

Patient-level measures (our definitions, stated in the report):

* an alert *episode* is a maximal run of consecutive hours with the alert active;
* a septic patient is *detected* when an alert is active in any hour of the window
  [onset - 12 h, onset + 3 h] (the utility's rewarded window); the lead time is onset
  minus the first such hour (12 at best, -3 at worst);
* an episode is *true* when its patient is septic and the episode overlaps that window;
  PPV = true episodes / all episodes; burden = episodes per patient-day (24 rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = [
    "Cohort",
    "RuleMetrics",
    "UtilityParams",
    "onset_row",
    "patient_utility",
    "utility_per_row",
]


@dataclass(frozen=True, slots=True)
class UtilityParams:
    """The challenge's utility parameters (hours relative to onset, and rewards)."""

    dt_early: float = -12.0
    dt_optimal: float = -6.0
    dt_late: float = 3.0
    max_u_tp: float = 1.0
    min_u_fn: float = -2.0
    u_fp: float = -0.05
    u_tn: float = 0.0


CHALLENGE = UtilityParams()


def onset_row(labels: np.ndarray, params: UtilityParams = CHALLENGE) -> float:
    """Row of sepsis onset: first labelled row - dt_optimal (i.e. + 6 h); +inf when never labelled."""
    labels = np.asarray(labels)
    if not labels.any():
        return float("inf")
    return float(np.argmax(labels != 0) - params.dt_optimal)


def utility_per_row(labels: np.ndarray, params: UtilityParams = CHALLENGE) -> tuple[np.ndarray, np.ndarray]:
    """Per-row utility of alerting and of staying silent, for one patient.

    Returns (u_alert, u_silent), float arrays as long as `labels`.
    """
    n = len(labels)
    t_sepsis = onset_row(labels, params)
    if not np.isfinite(t_sepsis):
        return np.full(n, params.u_fp), np.full(n, params.u_tn)
    d = np.arange(n, dtype=np.float64) - t_sepsis
    rising = params.max_u_tp / (params.dt_optimal - params.dt_early)  # m_1
    falling = -params.max_u_tp / (params.dt_late - params.dt_optimal)  # m_2
    missed = params.min_u_fn / (params.dt_late - params.dt_optimal)  # m_3
    early = d <= params.dt_optimal
    late = (d > params.dt_optimal) & (d <= params.dt_late)
    u_alert = np.zeros(n)
    u_alert[early] = np.maximum(rising * (d[early] - params.dt_early), params.u_fp)
    u_alert[late] = falling * (d[late] - params.dt_late)
    u_silent = np.zeros(n)
    u_silent[late] = missed * (d[late] - params.dt_optimal)
    return u_alert, u_silent


def patient_utility(labels: np.ndarray, predictions: np.ndarray, params: UtilityParams = CHALLENGE) -> float:
    """Unnormalised utility of one patient's 0/1 hourly predictions."""
    u_alert, u_silent = utility_per_row(labels, params)
    return float(np.where(np.asarray(predictions) != 0, u_alert, u_silent).sum())


@dataclass(frozen=True, slots=True)
class RuleMetrics:
    """Patient- and hour-level results of one binary alert rule over a cohort."""

    utility: float | None
    sensitivity: float | None
    ppv: float | None
    alerts_per_patient_day: float
    alerted_share: float
    median_lead_h: float | None
    lead_iqr_h: tuple[float, float] | None
    episodes: int
    true_episodes: int
    septic_patients: int
    detected_patients: int
    hour_positive_rate: float
    lead_times_h: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """JSON-ready figures (lead times left out; they feed the histogram)."""
        return {
            "utility": self.utility,
            "sensitivity": self.sensitivity,
            "ppv": self.ppv,
            "alerts_per_patient_day": self.alerts_per_patient_day,
            "alerted_share": self.alerted_share,
            "median_lead_h": self.median_lead_h,
            "lead_iqr_h": list(self.lead_iqr_h) if self.lead_iqr_h else None,
            "episodes": self.episodes,
            "true_episodes": self.true_episodes,
            "septic_patients": self.septic_patients,
            "detected_patients": self.detected_patients,
            "hour_positive_rate": self.hour_positive_rate,
        }


class Cohort:
    """A cohort's labels, laid end to end, with everything the metrics need precomputed.

    Build it once from per-patient label arrays (row order); then any number of
    prediction vectors of the same total length can be scored cheaply (vectorised).
    """

    def __init__(self, labels: Sequence[np.ndarray], params: UtilityParams = CHALLENGE) -> None:
        if not labels:
            raise ValueError("a cohort needs at least one patient")
        if any(len(x) == 0 for x in labels):
            raise ValueError("every patient needs at least one row")
        self.params = params
        lengths = np.array([len(x) for x in labels], dtype=np.int64)
        self.starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        self.lengths = lengths
        self.labels = np.concatenate([np.asarray(x, dtype=np.int8) for x in labels])
        self.n_rows = int(self.labels.size)
        self.patient_of_row = np.repeat(np.arange(len(labels)), lengths)
        self.row_in_patient = np.arange(self.n_rows) - np.repeat(self.starts, lengths)
        onsets = np.array([onset_row(x, params) for x in labels])
        self.septic = np.isfinite(onsets)
        self.onsets = onsets
        u = [utility_per_row(x, params) for x in labels]
        self.u_alert = np.concatenate([a for a, _ in u])
        self.u_silent = np.concatenate([s for _, s in u])
        # Rewarded window [onset + dt_early, onset + dt_late], per row (NaN for non-septic patients).
        onset_per_row = np.repeat(onsets, lengths)
        d = self.row_in_patient - onset_per_row
        self.in_window = (d >= params.dt_early) & (d <= params.dt_late)
        self.inaction = float(self.u_silent.sum())
        self.best = float(np.where(self.in_window, self.u_alert, self.u_silent).sum())

    @property
    def n_patients(self) -> int:
        return int(self.lengths.size)

    def normalized_utility(self, predictions: np.ndarray) -> float | None:
        """The challenge's normalised utility of 0/1 hourly predictions (concatenated like the labels).

        None when the cohort has no septic patient (best == inaction: nothing to normalise by).
        """
        if self.best == self.inaction:
            return None
        observed = float(np.where(predictions, self.u_alert, self.u_silent).sum())
        return (observed - self.inaction) / (self.best - self.inaction)

    def sweep_point(self, predictions: np.ndarray) -> tuple[float | None, float | None, float]:
        """(utility, sensitivity, episodes per patient-day) only: the cheap subset for threshold sweeps."""
        pred = np.asarray(predictions, dtype=bool)
        prev = np.concatenate(([False], pred[:-1]))
        prev[self.starts] = False
        episodes = int(np.count_nonzero(pred & ~prev))
        n_septic = int(self.septic.sum())
        detected = int(np.count_nonzero(np.logical_or.reduceat(pred & self.in_window, self.starts)))
        return (self.normalized_utility(pred), detected / n_septic if n_septic else None,
                episodes / (self.n_rows / 24.0))

    def evaluate(self, predictions: np.ndarray, *, keep_lead_times: bool = False) -> RuleMetrics:
        """All patient- and hour-level figures of one rule's 0/1 hourly predictions."""
        pred = np.asarray(predictions, dtype=bool)
        if pred.size != self.n_rows:
            raise ValueError(f"predictions: {pred.size} rows, the cohort has {self.n_rows}")
        first_row = np.zeros(self.n_rows, dtype=bool)
        first_row[self.starts] = True
        last_row = np.zeros(self.n_rows, dtype=bool)
        last_row[self.starts + self.lengths - 1] = True
        prev = np.concatenate(([False], pred[:-1])) & ~first_row
        nxt = np.concatenate((pred[1:], [False])) & ~last_row
        ep_start = np.flatnonzero(pred & ~prev)
        ep_end = np.flatnonzero(pred & ~nxt)
        # An episode is true when any of its hours lies in its patient's rewarded window.
        hits = np.concatenate(([0], np.cumsum(pred & self.in_window)))
        true_ep = (hits[ep_end + 1] - hits[ep_start]) > 0
        detected_rows = pred & self.in_window
        detected = np.logical_or.reduceat(detected_rows, self.starts)
        ever = np.logical_or.reduceat(pred, self.starts)
        big = np.iinfo(np.int64).max
        first_hit = np.minimum.reduceat(np.where(detected_rows, self.row_in_patient, big), self.starts)
        leads = (self.onsets[detected] - first_hit[detected]).astype(np.float64)
        n_septic = int(self.septic.sum())
        n_detected = int(detected.sum())
        episodes = int(ep_start.size)
        return RuleMetrics(
            utility=self.normalized_utility(pred),
            sensitivity=n_detected / n_septic if n_septic else None,
            ppv=float(true_ep.sum()) / episodes if episodes else None,
            alerts_per_patient_day=episodes / (self.n_rows / 24.0),
            alerted_share=float(ever.mean()),
            median_lead_h=float(np.median(leads)) if leads.size else None,
            lead_iqr_h=(float(np.percentile(leads, 25)), float(np.percentile(leads, 75))) if leads.size else None,
            episodes=episodes,
            true_episodes=int(true_ep.sum()),
            septic_patients=n_septic,
            detected_patients=n_detected,
            hour_positive_rate=float(pred.mean()),
            lead_times_h=tuple(leads.tolist()) if keep_lead_times else (),
        )

    def hour_auc(self, scores: np.ndarray) -> tuple[float | None, float | None]:
        """Hour-level AUROC and AUPRC of a continuous score against SepsisLabel.

        Hours without a value (NaN: nothing scored yet) rank below every scored hour.
        Returns (None, None) when the labels or the scores are all one value.
        """
        values = np.asarray(scores, dtype=np.float64)
        if values.size != self.n_rows:
            raise ValueError(f"scores: {values.size} rows, the cohort has {self.n_rows}")
        finite = np.isfinite(values)
        if not finite.any() or self.labels.min() == self.labels.max():
            return None, None
        filled = np.where(finite, values, np.nanmin(values[finite]) - 1.0)
        if filled.min() == filled.max():
            return None, None
        return float(roc_auc_score(self.labels, filled)), float(average_precision_score(self.labels, filled))
