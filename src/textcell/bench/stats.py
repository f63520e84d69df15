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
