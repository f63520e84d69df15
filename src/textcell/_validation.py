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


def gene_totals(adata: ad.AnnData, layer: str | None = None) -> np.ndarray | None:
    """Total expression of each gene, or ``None`` when the values cannot be summed meaningfully.

    Scaled data (negative values) is not expression; then ``adata.raw`` is used when it holds
    the same genes, otherwise ``None``.
    """
    matrix = get_matrix(adata, layer)
    if matrix is None:
        return None
    if _has_negative(matrix):
        raw = adata.raw
        if layer is None and raw is not None and raw.var_names.equals(adata.var_names):
            matrix = raw.X
        else:
            logger.warning(
                "The expression values include negatives (scaled data?); "
                "expression coverage is not reported. Pass a counts layer."
            )
            return None
    totals = np.asarray(matrix.sum(axis=0), dtype=float).ravel()
    if not np.isfinite(totals).all():
        raise InputError("The expression matrix contains NaN or infinite values.")
    return totals


def _has_negative(matrix) -> bool:
    data = matrix.data if sparse.issparse(matrix) else np.asarray(matrix)
    return data.size > 0 and float(np.nanmin(data)) < 0
