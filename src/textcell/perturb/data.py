"""Expression for perturbation models: log-normalised dense matrices, control means, mean shifts."""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pandas as pd

from .. import _expression as expression
from ..errors import InputError

logger = logging.getLogger("textcell")


def log_expression(
    adata: ad.AnnData, *, layer: str | None = None, normalize: str = "auto"
) -> tuple[np.ndarray, str]:
    """Dense float32 log-expression, and the ``normalize`` value that repeats the decision on new
    data (``"counts"`` or ``"none"``; ``"auto"`` is decided by
    :func:`textcell._expression.decide_normalization`)."""
    matrix, _, applied = expression.log_expression(adata, layer=layer, normalize=normalize)
    return matrix.toarray(), "counts" if applied == expression.LOG_NORMALIZED else "none"


def group_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return values[mask].mean(axis=0, dtype=np.float64)


def observed_deltas(
    expression: np.ndarray, labels: np.ndarray, contexts: np.ndarray, *, control: str
) -> tuple[pd.DataFrame, pd.Series]:
    """Mean shift of every condition from the control cells of the same context, averaged
    over the contexts where both occur; and the number of cells behind each shift."""
    deltas, counts = {}, {}
    for label in pd.unique(labels):
        if label == control:
            continue
        shifts, n = [], 0
        for context in pd.unique(contexts[labels == label]):
            in_context = contexts == context
            controls = in_context & (labels == control)
            if not controls.any():
                logger.warning(
                    "No %r cells in context %r; its %r cells are not used.", control, context, label
                )
                continue
            cells = in_context & (labels == label)
            shifts.append(group_mean(expression, cells) - group_mean(expression, controls))
            n += int(cells.sum())
        if shifts:
            deltas[label] = np.mean(shifts, axis=0)
            counts[label] = n
    if not deltas:
        raise InputError(
            f"No perturbed cells beside {control!r} cells; a model needs both (check control=...)."
        )
    return pd.DataFrame(deltas).T, pd.Series(counts)


def context_shifts(
    expression: np.ndarray, labels: np.ndarray, contexts: np.ndarray, *, control: str
) -> tuple[np.ndarray, np.ndarray]:
    """Control mean and mean shift over conditions (each counts once) of every context that has
    control and other cells: two arrays, contexts × genes."""
    means, shifts = [], []
    for context in pd.unique(contexts):
        here = contexts == context
        controls = here & (labels == control)
        others = [label for label in pd.unique(labels[here]) if label != control]
        if controls.any() and others:
            means.append(group_mean(expression, controls))
            perturbed = np.mean(
                [group_mean(expression, here & (labels == label)) for label in others], axis=0
            )
            shifts.append(perturbed - means[-1])
    return np.stack(means), np.stack(shifts)
