"""Checks on AnnData input shared by every tool."""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
from scipy import sparse

from .errors import InputError

logger = logging.getLogger("textcell")


def get_matrix(adata: ad.AnnData, layer: str | None = None):
    """``adata.X`` or ``adata.layers[layer]``, with an error that lists the layers."""
    if layer is None:
        return adata.X
    if layer not in adata.layers:
        raise InputError(f"Layer {layer!r} not found; available layers: {list(adata.layers) or 'none'}.")
    return adata.layers[layer]


CHUNK_ROWS = 20_000


def gene_totals(adata: ad.AnnData, layer: str | None = None) -> np.ndarray | None:
    """Total expression of each gene, or ``None`` when the values cannot be summed meaningfully.

    Reads backed files in chunks of rows. Scaled data (negative values) is not expression;
    then ``adata.raw`` is used when it holds the same genes, otherwise ``None``.
    """
    matrix = get_matrix(adata, layer)
    if matrix is None:
        return None
    totals, negative = _column_sums(matrix, adata.n_obs)
    if negative:
        raw = adata.raw if layer is None else None
        if raw is not None and raw.var_names.equals(adata.var_names):
            totals, negative = _column_sums(raw.X, adata.n_obs)
    if negative:
        logger.warning(
            "The expression values include negatives (scaled data?); "
            "expression coverage is not reported. Pass a counts layer."
        )
        return None
    if not np.isfinite(totals).all():
        raise InputError("The expression matrix contains NaN or infinite values.")
    return totals


def _column_sums(matrix, n_obs: int) -> tuple[np.ndarray, bool]:
    """Column sums over row chunks, and whether any value is negative."""
    totals = np.zeros(matrix.shape[1])
    negative = False
    for start in range(0, n_obs, CHUNK_ROWS):
        block = matrix[start : start + CHUNK_ROWS]
        values = block.data if sparse.issparse(block) else np.asarray(block)
        negative = negative or (values.size > 0 and float(np.nanmin(values)) < 0)
        totals += np.asarray(block.sum(axis=0), dtype=float).ravel()
    return totals, negative
