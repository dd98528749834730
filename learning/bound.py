"""The patient-level ceiling a risk model puts on paging (issue #17; docs/paging.md section 4). Pure numpy.

The paging policy can page a patient only when some hour's risk crossed its threshold, and a page counts for a
septic stay only up to onset + 3 h (the end of the utility's rewarded window, evaluation.metrics). So however
hysteresis, re-paging and the septic-shock signs are tuned, paging at most a share `budget` of patients can
catch no more septic stays than paging the `budget` share with the highest *peak* risk: each stay's maximum risk
over its hours up to onset + 3 h (all hours for a non-septic stay). That sensitivity is the ceiling reported
here, beside the patient-level AUROC of the same peak (how well the peak ranks septic above non-septic stays,
whatever the budget).

It is a ceiling, not an estimate: the real policy also needs the page inside [onset - 12 h, onset + 3 h], pages
per episode rather than per stay, and spends part of its budget on septic-shock signs.

`hourly_at_budget` (`--hourly`) answers the question beside it: what the model alone, flagging every hour at or
above one threshold with no hysteresis and no septic-shock signs, scores on the challenge utility when that
threshold flags at most the budget's share of stays. The paged utility target of issue #17 compares with the
model alone at its own best threshold, which flags far more stays than the budget allows.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from evaluation.metrics import CHALLENGE, UtilityParams, onset_row

__all__ = ["PatientCeiling", "budget_threshold", "ceiling_of_oof", "hourly_at_budget", "paged_by_group",
           "paired_difference", "patient_ceiling", "patient_peaks", "rank_auroc", "read_oof", "sensitivity_at_budget"]


@dataclass(frozen=True, slots=True)
class PatientCeiling:
    """Sensitivity at the page budget when stays are paged by their peak risk, and the peak's AUROC."""

    budget: float  # the largest share of stays that may be paged
    sensitivity: float  # septic stays among the paged / septic stays
    paged_share: float  # share actually paged (ties at the threshold can keep it under the budget)
    threshold: float  # peak risk at or above which a stay is paged
    patient_auroc: float
    patients: int
    septic: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def patient_peaks(labels: Sequence[np.ndarray], risks: Sequence[np.ndarray],
                  params: UtilityParams = CHALLENGE, hold_hours: int = 1, discount: float = 0.0) -> np.ndarray:
    """Per stay, the highest finite risk in rows up to onset + dt_late (every row of a non-septic stay).

    -inf for a stay without a finite risk in that span (never scored, or onset before the first scoring): such
    a stay can never be paged in time.

    Two policy variants that could rank stays differently from the plain peak (docs/paging.md section 4):
    `hold_hours` K > 1 counts a risk only once it has held for K consecutive rows (the peak of the rolling
    minimum, dated at the window's last row); `discount` D > 0 lowers the score of row r by D * ln(1 + r), so a
    long stay's peak must be higher to be paged (meant for the log-odds `margin` column).
    """
    if hold_hours < 1:
        raise ValueError(f"hold_hours must be at least 1, got {hold_hours}")
    if len(labels) != len(risks):
        raise ValueError(f"{len(labels)} label arrays but {len(risks)} risk arrays")
    peaks = np.full(len(labels), -np.inf)
    for i, (label, risk) in enumerate(zip(labels, risks, strict=True)):
        if len(label) != len(risk):
            raise ValueError(f"stay {i}: {len(label)} labels but {len(risk)} risks")
        onset = onset_row(np.asarray(label), params)
        # rows 0..floor(onset + dt_late) inclusive, as the rewarded window counts whole rows
        end = len(risk) if not np.isfinite(onset) else max(0, min(len(risk), int(np.floor(onset + params.dt_late)) + 1))
        span = np.asarray(risk[:end], dtype=np.float64)
        span = np.where(np.isfinite(span), span, -np.inf)
        if span.size < hold_hours:
            continue
        if hold_hours > 1:
            span = np.lib.stride_tricks.sliding_window_view(span, hold_hours).min(axis=1)
        if discount:
            span = span - discount * np.log1p(np.arange(span.size) + hold_hours - 1)
        finite = span[np.isfinite(span)]
        if finite.size:
            peaks[i] = float(finite.max())
    return peaks


def rank_auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """AUROC by the rank-sum (Mann-Whitney) formula with average ranks for ties; -inf scores rank lowest."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUROC needs both septic and non-septic stays")
    order = np.argsort(scores, kind="mergesort")
    ranked = scores[order]
    ranks = np.empty(scores.size, dtype=np.float64)
    # average rank of each run of equal values (1-based)
    starts = np.flatnonzero(np.concatenate(([True], ranked[1:] != ranked[:-1])))
    ends = np.concatenate((starts[1:], [ranked.size]))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def patient_ceiling(labels: Sequence[np.ndarray], risks: Sequence[np.ndarray], budget: float = 0.35,
                    params: UtilityParams = CHALLENGE, hold_hours: int = 1, discount: float = 0.0
                    ) -> PatientCeiling:
    """Page the stays whose peak risk (see `patient_peaks`) is at or above the lowest threshold that pages at
    most `budget` of them; a threshold cannot split tied peaks, so ties at the cut stay unpaged."""
    if not 0.0 < budget <= 1.0:
        raise ValueError(f"budget must be in (0, 1], got {budget}")
    peaks = patient_peaks(labels, risks, params, hold_hours, discount)
    septic = np.array([np.isfinite(onset_row(np.asarray(x), params)) for x in labels])
    threshold = budget_threshold(peaks, budget)
    paged = peaks >= threshold
    n_septic = int(septic.sum())
    return PatientCeiling(
        budget=budget,
        sensitivity=float((paged & septic).sum() / n_septic) if n_septic else float("nan"),
        paged_share=float(paged.mean()),
        threshold=threshold,
        patient_auroc=rank_auroc(peaks, septic),
        patients=int(peaks.size),
        septic=n_septic,
    )


def budget_threshold(peaks: np.ndarray, budget: float) -> float:
    """The lowest peak-risk threshold that pages at most `budget` of the stays; a threshold cannot split tied
    peaks, so ties at the cut stay unpaged (inf when nothing may be paged)."""
    allowed = int(np.floor(budget * peaks.size + 1e-9))
    ordered = np.sort(peaks[np.isfinite(peaks)])[::-1]
    if allowed == 0 or ordered.size == 0:
        return float(np.inf)
    if allowed >= ordered.size:
        return float(ordered[-1])
    # The cut falls between ordered[allowed - 1] (paged) and ordered[allowed] (not); if they tie, move the
    # threshold up to the next distinct value so that no more than `allowed` stays are paged.
    threshold = float(ordered[allowed - 1])
    if ordered[allowed] == threshold:
        above = ordered[ordered > threshold]
        threshold = float(above.min()) if above.size else float(np.inf)
    return threshold


def sensitivity_at_budget(peaks: np.ndarray, septic: np.ndarray, budget: float) -> float:
    """`patient_ceiling`'s sensitivity from precomputed peaks (same threshold rule), for resampling."""
    n_septic = int(septic.sum())
    return float(((peaks >= budget_threshold(peaks, budget)) & septic).sum() / n_septic) if n_septic else float("nan")


def paired_difference(peaks_a: np.ndarray, peaks_b: np.ndarray, septic: np.ndarray, budget: float = 0.35,
                      resamples: int = 500, seed: int = 0) -> dict[str, float]:
    """Ceiling sensitivity of B minus A on the same stays, with a 95 % percentile interval from resampling stays
    (both models scored on the same resampled stays, so the interval is for the difference, not each figure)."""
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    for i in range(resamples):
        idx = rng.integers(0, peaks_a.size, peaks_a.size)
        diffs[i] = (sensitivity_at_budget(peaks_b[idx], septic[idx], budget)
                    - sensitivity_at_budget(peaks_a[idx], septic[idx], budget))
    low, high = np.percentile(diffs, [2.5, 97.5])
    point = sensitivity_at_budget(peaks_b, septic, budget) - sensitivity_at_budget(peaks_a, septic, budget)
    return {"difference": point, "low": float(low), "high": float(high), "resamples": resamples}


def paged_by_group(labels: Sequence[np.ndarray], risks: Sequence[np.ndarray], ceiling: PatientCeiling,
                   edges: Sequence[float] = (0, 12, 24, 48, 72), params: UtilityParams = CHALLENGE,
                   hold_hours: int = 1, discount: float = 0.0) -> list[dict[str, float | int | str]]:
    """Where the ceiling's pages go: share paged of septic stays by onset hour and of non-septic stays by length
    (hours), bins [edges[i], edges[i+1]) and a last open bin. Shows what the peak risk leans on."""
    peaks = patient_peaks(labels, risks, params, hold_hours, discount)
    paged = peaks >= ceiling.threshold
    onsets = np.array([onset_row(np.asarray(x), params) for x in labels])
    lengths = np.array([len(x) for x in labels], dtype=np.float64)
    septic = np.isfinite(onsets)
    bounds = [*edges, np.inf]
    rows: list[dict[str, float | int | str]] = []
    for kind, value, mask in (("septic, onset hour", onsets, septic), ("non-septic, stay hours", lengths, ~septic)):
        for lo, hi in itertools.pairwise(bounds):
            m = mask & (value >= lo) & (value < hi)
            if m.any():
                rows.append({"group": f"{kind} {lo:g}-{hi:g}", "stays": int(m.sum()), "paged": float(paged[m].mean())})
    return rows


def hourly_at_budget(labels: Sequence[np.ndarray], risks: Sequence[np.ndarray], budget: float = 0.35,
                     params: UtilityParams = CHALLENGE) -> dict[str, float]:
    """The model alone, hour by hour, at the lowest threshold that flags at most `budget` of the stays in any
    hour: the challenge utility, sensitivity, share of stays and of hours flagged (evaluation.metrics.Cohort)."""
    from evaluation.metrics import Cohort

    if not 0.0 < budget <= 1.0:
        raise ValueError(f"budget must be in (0, 1], got {budget}")
    if len(labels) != len(risks):
        raise ValueError(f"{len(labels)} label arrays but {len(risks)} risk arrays")
    values = [np.where(np.isfinite(r), np.asarray(r, dtype=np.float64), -np.inf) for r in risks]
    peaks = np.array([float(v.max()) if v.size else -np.inf for v in values])
    threshold = budget_threshold(peaks, budget)
    flags = np.concatenate(values) >= threshold
    m = Cohort(list(labels), params).evaluate(flags)
    nan = float("nan")
    return {"budget": budget, "threshold": threshold, "utility": nan if m.utility is None else m.utility,
            "sensitivity": nan if m.sensitivity is None else m.sensitivity,
            "flagged_share": m.alerted_share, "hour_positive_rate": m.hour_positive_rate}


def read_oof(path: str, column: str = "risk") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(labels, scores) per stay from an out-of-fold predictions file in the `sepsis-alert eval --predictions`
    format (arrays `patient`, `label` and `column`, stays laid end to end in file order, as learning/cli.py
    writes them)."""
    data = np.load(path, allow_pickle=False)
    patient = data["patient"]
    starts = np.flatnonzero(np.concatenate(([True], patient[1:] != patient[:-1])))[1:]
    return np.split(data["label"], starts), np.split(data[column], starts)


def ceiling_of_oof(path: str, budget: float = 0.35, column: str = "risk") -> PatientCeiling:
    """The ceiling of an out-of-fold predictions file (see `read_oof`)."""
    return patient_ceiling(*read_oof(path, column), budget)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m learning.bound", description=__doc__.splitlines()[0])
    p.add_argument("oof", help="out-of-fold predictions .npz (e.g. evaluation/data/risk_model_oof_set_a.npz)")
    p.add_argument("--budget", type=float, default=0.35, help="largest share of stays paged (default 0.35)")
    p.add_argument("--column", default="risk", help="score column: risk (calibrated, as paged) or margin")
    p.add_argument("--hold-hours", type=int, default=1, metavar="K",
                   help="count a risk only once it held for K consecutive hours (default 1: the plain peak)")
    p.add_argument("--discount", type=float, default=0.0, metavar="D",
                   help="lower hour r's score by D * ln(1 + r) before taking the peak (use with --column margin)")
    p.add_argument("--groups", action="store_true", help="also the share paged by onset hour and stay length")
    p.add_argument("--hourly", action="store_true",
                   help="also the model alone, hour by hour, at the threshold that flags at most the budget")
    p.add_argument("--against", metavar="OOF", help="a second OOF file (same stays): its ceiling minus this one's, "
                   "with a paired bootstrap interval over stays")
    args = p.parse_args(argv)
    labels, scores = read_oof(args.oof, args.column)
    ceiling = patient_ceiling(labels, scores, args.budget, hold_hours=args.hold_hours, discount=args.discount)
    out: dict[str, object] = {**ceiling.as_dict()}
    if args.groups:
        out["groups"] = paged_by_group(labels, scores, ceiling, hold_hours=args.hold_hours, discount=args.discount)
    if args.hourly:
        out["hourly_at_budget"] = hourly_at_budget(labels, scores, args.budget)
    if args.against:
        other_labels, other_scores = read_oof(args.against, args.column)
        if [len(x) for x in other_labels] != [len(x) for x in labels]:
            raise SystemExit("--against: the two files do not hold the same stays")
        septic = np.array([np.isfinite(onset_row(np.asarray(x))) for x in labels])
        out["against"] = {"file": args.against, **paired_difference(
            patient_peaks(labels, scores, hold_hours=args.hold_hours, discount=args.discount),
            patient_peaks(other_labels, other_scores, hold_hours=args.hold_hours, discount=args.discount),
            septic, args.budget)}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
