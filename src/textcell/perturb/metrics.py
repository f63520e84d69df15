"""How close a predicted mean expression is to the observed one, measured on shifts from control.

* ``pearson_delta``: Pearson correlation of predicted and observed shifts over all genes.
* ``pearson_delta_de20``: the same over the condition's top-20 DE genes (Welch t against the
  control cells, ranked by absolute value, as GEARS ranks them).
* ``nmse_de20``: mean squared error on the top-20 DE genes divided by that of predicting no
  change (the control mean); below 1 beats "nothing happens".
* ``direction_de20``: fraction of the top-20 DE genes whose shift has the observed sign.
"""

from __future__ import annotations

import numpy as np

METRICS = ("pearson_delta", "pearson_delta_de20", "nmse_de20", "direction_de20")
METRIC_LABELS = {
    "pearson_delta": "Pearson-delta (all genes)",
    "pearson_delta_de20": "Pearson-delta (top-20 DE)",
    "nmse_de20": "normalised MSE (top-20 DE)",
    "direction_de20": "direction accuracy (top-20 DE)",
}
HIGHER_IS_BETTER = {
    "pearson_delta": True,
    "pearson_delta_de20": True,
    "nmse_de20": False,
    "direction_de20": True,
}


def top_de_genes(perturbed: np.ndarray, control: np.ndarray, n: int = 20) -> np.ndarray:
    """Column indices of the ``n`` genes with the largest ``|Welch t|`` between the two cell sets."""
    mean_p, mean_c = perturbed.mean(0), control.mean(0)
    var_p = perturbed.var(0, ddof=1) if len(perturbed) > 1 else np.zeros_like(mean_p)
    var_c = control.var(0, ddof=1) if len(control) > 1 else np.zeros_like(mean_c)
    se = np.sqrt(var_p / len(perturbed) + var_c / len(control))
    t = np.divide(mean_p - mean_c, se, out=np.zeros_like(se, dtype=np.float64), where=se > 0)
    return np.argsort(-np.abs(t), kind="stable")[: min(n, len(t))]


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two vectors; 0 when either is constant."""
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def perturbation_metrics(
    predicted: np.ndarray, observed: np.ndarray, control: np.ndarray, de_genes: np.ndarray
) -> dict[str, float]:
    """All metrics for one condition from mean profiles: predicted, observed and control.

    A constant prediction has no correlation to speak of and scores 0.
    """
    predicted, observed, control = (np.asarray(v, dtype=np.float64) for v in (predicted, observed, control))
    pred_delta, true_delta = predicted - control, observed - control
    de = np.asarray(de_genes)
    no_change = float(np.mean(true_delta[de] ** 2))
    error = float(np.mean((pred_delta[de] - true_delta[de]) ** 2))
    return {
        "pearson_delta": pearson(pred_delta, true_delta),
        "pearson_delta_de20": pearson(pred_delta[de], true_delta[de]),
        "nmse_de20": error / no_change if no_change > 0 else float("nan"),
        "direction_de20": float(np.mean(np.sign(pred_delta[de]) == np.sign(true_delta[de]))),
    }
