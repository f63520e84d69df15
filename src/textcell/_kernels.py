"""Sparse kernels for cell embeddings (numba), and the chunked runner over in-memory,
backed and Dask matrices.

The weighted average reads each cell's CSR row once per tile of embedding dimensions, so a tile
of the gene-embedding matrix stays in cache while every cell of a chunk is accumulated into it.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy import sparse

TILE = 128  # embedding dimensions per pass: 20k genes × 128 × 4 B = 10 MB, about the L2+L3 share


@numba.njit(cache=True)
def _row_order(data, indices, start, end):
    """Positions start..end-1 ordered by value (descending), ties by gene index (ascending)."""
    keys = np.empty(end - start, dtype=np.float64)
    for k in range(start, end):
        keys[k - start] = -data[k]
    order = np.argsort(keys, kind="mergesort")  # stable: CSR rows are sorted by gene index
    return order + start


@numba.njit(parallel=True, cache=True)
def cell_weights(indptr, indices, data, gene_weight, log_normalize, target_sum, top_n, weights, used):
    """weights[k] = w_ig / Σ_g w_ig for entry k = (cell i, gene g); 0 for genes that do not count.

    w_ig = gene_weight[g] · (log1p(x_ig · target_sum / Σ_g x_ig) if log_normalize else x_ig);
    only genes with gene_weight > 0 count, and with top_n > 0 only the cell's top_n of those.
    """
    for i in numba.prange(indptr.shape[0] - 1):
        start, end = indptr[i], indptr[i + 1]
        scale = 1.0
        if log_normalize:
            total = 0.0
            for k in range(start, end):
                total += data[k]
            scale = target_sum / total if total > 0 else 0.0
        order = _row_order(data, indices, start, end) if top_n > 0 else np.arange(start, end)
        n = 0
        wsum = 0.0
        for k in order:
            weights[k] = 0.0
        for k in order:
            g = indices[k]
            if gene_weight[g] <= 0 or data[k] <= 0:
                continue
            value = np.log1p(data[k] * scale) if log_normalize else data[k]
            weights[k] = value * gene_weight[g]
            wsum += weights[k]
            n += 1
            if top_n > 0 and n == top_n:
                break
        used[i] = n
        for k in range(start, end):
            weights[k] = weights[k] / wsum if wsum > 0 else 0.0


@numba.njit(parallel=True, cache=True)
def weighted_sum(indptr, indices, weights, embeddings, out):
    """out[i] += Σ_k weights[k]·E[indices[k]], one tile of dimensions at a time across all cells."""
    dim = embeddings.shape[1]
    for t0 in range(0, dim, TILE):
        t1 = min(t0 + TILE, dim)
        for i in numba.prange(indptr.shape[0] - 1):
            for k in range(indptr[i], indptr[i + 1]):
                w = weights[k]
                if w != 0.0:
                    g = indices[k]
                    for j in range(t0, t1):
                        out[i, j] += w * embeddings[g, j]


@numba.njit(parallel=True, cache=True)
def top_genes(indptr, indices, data, eligible, k, out):
    """out[i, :] = the k most expressed eligible genes of cell i (ties: lower index first), -1 padded."""
    for i in numba.prange(indptr.shape[0] - 1):
        order = _row_order(data, indices, indptr[i], indptr[i + 1])
        n = 0
        for p in order:
            if n == k:
                break
            g = indices[p]
            if eligible[g] and data[p] > 0:
                out[i, n] = g
                n += 1


def as_csr(block) -> sparse.csr_matrix:
    """A chunk as canonical float CSR (sorted indices, no duplicates)."""
    csr = sparse.csr_matrix(block, dtype=np.float32) if not sparse.isspmatrix_csr(block) else block
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    return csr
