"""Expression for perturbation models: log-normalised dense matrices, control means, mean shifts."""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from .._validation import get_matrix
from ..errors import InputError

logger = logging.getLogger("textcell")

NORMALISATIONS = ("auto", "log1p_cp10k", "none")
TARGET_SUM = 1e4


def log_expression(
    adata: ad.AnnData, *, layer: str | None = None, normalisation: str = "auto"
) -> tuple[np.ndarray, str]:
    """Dense float32 log-expression and the normalisation applied.

    ``auto`` normalises raw counts (non-negative integers) to 10,000 per cell and takes
    ``log1p``; values that are not integers are taken as already log-normalised (``none``).
    """
    if normalisation not in NORMALISATIONS:
        raise InputError(f"normalisation must be one of {', '.join(NORMALISATIONS)}, not {normalisation!r}.")
    matrix = get_matrix(adata, layer)
    if matrix is None:
        raise InputError("The AnnData has no expression matrix; pass layer= with one.")
    dense = matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)
    dense = np.array(dense, dtype=np.float32)
    if not np.isfinite(dense).all():
        raise InputError("The expression matrix contains NaN or infinite values.")
    if dense.size and dense.min() < 0:
        raise InputError(
            "The expression values include negatives (scaled data?). Pass raw counts or "
            "log-normalised values (layer=...)."
        )
    is_counts = bool(np.all(dense == np.round(dense)))
    if normalisation == "auto":
        normalisation = "log1p_cp10k" if is_counts else "none"
    if normalisation == "log1p_cp10k":
        if not is_counts:
            raise InputError(
                "This model normalises raw counts, but the values given are not counts; pass the "
                "counts layer (layer=...)."
            )
        totals = dense.sum(axis=1, keepdims=True)
        np.divide(dense * TARGET_SUM, totals, out=dense, where=totals > 0)
        np.log1p(dense, out=dense)
    return dense, normalisation


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
