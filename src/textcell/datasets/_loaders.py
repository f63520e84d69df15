"""Loaders for data that needs no download."""

from __future__ import annotations

import anndata as ad


def pbmc68k_reduced() -> ad.AnnData:
    """scanpy's bundled 700 × 765 PBMC subset (log-normalised ``.raw``, ``bulk_labels``)."""
    import scanpy as sc

    return sc.datasets.pbmc68k_reduced()
