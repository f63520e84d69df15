"""Summaries of repeated measurements: every benchmark number is a mean with its spread."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def summarize(scores: Sequence[float]) -> dict:
    """Mean, sample sd, the t-based 95% confidence interval of the mean, and the count.

    One score gives sd 0 and an interval of the score itself; NaN scores are refused.
    """
    values = np.asarray(scores, dtype=np.float64)
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"summarize needs finite scores, got {values.tolist()}")
    mean = float(values.mean())
    if values.size == 1:
        return {"mean": mean, "sd": 0.0, "ci_low": mean, "ci_high": mean, "n": 1}
    sd = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.975, values.size - 1) * sd / np.sqrt(values.size))
    return {"mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half, "n": int(values.size)}


def median_range(values: Sequence[float]) -> dict:
    """Median, smallest and largest of repeated speed runs, and the spread: (largest − smallest)
    / median (how far two runs may disagree)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"median_range needs finite values, got {values.tolist()}")
    median = float(np.median(values))
    low, high = float(values.min()), float(values.max())
    return {"median": median, "min": low, "max": high, "spread": (high - low) / median, "n": int(values.size)}


def format_median_range(summary: dict, digits: int = 2) -> str:
    """``median [min–max]``; one run shows its value alone."""
    if summary["n"] == 1:
        return f"{summary['median']:,.{digits}f}"
    return f"{summary['median']:,.{digits}f} [{summary['min']:,.{digits}f}–{summary['max']:,.{digits}f}]"


def beats(a: dict, b: dict) -> bool:
    """Whether summary ``a`` is above summary ``b`` by more than the larger of their spreads."""
    return a["mean"] - b["mean"] > max(a["sd"], b["sd"])


def paired_beats(gain: dict) -> bool:
    """Whether a summary of paired gains (one per fold, better minus baseline) is positive by more
    than its own sd; a single fold has no spread to beat."""
    return gain["n"] > 1 and gain["mean"] > gain["sd"]


def format_summary(summary: dict, digits: int = 3) -> str:
    """``mean ± sd``; a single measurement (``n`` 1) has no spread to show."""
    if summary.get("n") == 1:
        return f"{summary['mean']:.{digits}f}"
    return f"{summary['mean']:.{digits}f} ± {summary['sd']:.{digits}f}"


TIE = 1e-9  # paired scores closer than this are equal: two ways of writing the same prediction


def paired_comparison(
    scores: Sequence[float],
    baseline: Sequence[float],
    *,
    higher_is_better: bool = True,
    seed: int = 0,
    n_resamples: int = 10_000,
) -> dict:
    """How ``scores`` compare with ``baseline`` scored on the same units (folds, conditions).

    The paired gain (score minus baseline; baseline minus score when lower is better) is
    summarised with a percentile-bootstrap 95% confidence interval of its mean (resampling the
    units, ``seed``) and a two-sided sign test (units whose gain is within :data:`TIE` of 0, the
    same prediction up to rounding, do not count).
    ``beats`` is whether the interval lies above zero (never for a single unit). Units with a NaN
    on either side are left out.
    """
    a, b = np.asarray(scores, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need equal lengths, got {a.shape} and {b.shape}")
    gain = (a - b) if higher_is_better else (b - a)
    gain = gain[np.isfinite(gain)]
    if gain.size == 0:
        raise ValueError("paired_comparison needs at least one unit scored on both sides")
    better, worse = int((gain > TIE).sum()), int((gain < -TIE).sum())
    low, high = bootstrap_ci(gain, seed=seed, n_resamples=n_resamples)
    return {
        "gain": summarize(gain),
        "ci_low": low,
        "ci_high": high,
        "better": better,
        "worse": worse,
        "sign_p": float(stats.binomtest(better, better + worse).pvalue) if better + worse else 1.0,
        "beats": bool(gain.size > 1 and low > 0),
    }


def bootstrap_ci(
    values: Sequence[float], *, seed: int = 0, n_resamples: int = 10_000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of ``values`` (scipy's bootstrap);
    a single value, or identical ones, give that value at both ends."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2 or np.ptp(values) == 0:
        return float(values.mean()), float(values.mean())
    result = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=n_resamples,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def format_interval(low: float, high: float, digits: int = 3) -> str:
    return f"[{low:.{digits}f}, {high:.{digits}f}]"
