"""Sparse kernels for cell embeddings (numba): per-entry weights, the weighted average over CSR
rows, each cell's top genes, and gene sentences built as bytes."""

from __future__ import annotations

import numba
import numpy as np
from scipy import sparse


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
    ``weights`` is float32, so that weighted_sum runs in one precision and vectorises.
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


@numba.njit(parallel=True, fastmath=True, cache=True)
def weighted_sum(indptr, indices, weights, embeddings, out):
    """out[i] = Σ_k weights[k]·E[indices[k]] over the entries k of cell i."""
    dim = embeddings.shape[1]
    for i in numba.prange(indptr.shape[0] - 1):
        acc = np.zeros(dim, dtype=np.float32)  # a private accumulator lets numba vectorise
        for k in range(indptr[i], indptr[i + 1]):
            w = weights[k]
            if w != 0.0:
                g = indices[k]
                for j in range(dim):
                    acc[j] += w * embeddings[g, j]
        out[i, :] = acc


@numba.njit(cache=True)
def join_symbols(top, symbol_bytes, symbol_offsets):
    """Space-joined symbols of each row of ``top`` (-1 ends a row), as one byte buffer + offsets."""
    n = top.shape[0]
    offsets = np.zeros(n + 1, dtype=np.int64)
    size = 0
    for i in range(n):
        for g in top[i]:
            if g < 0:
                break
            size += symbol_offsets[g + 1] - symbol_offsets[g] + 1
    buffer = np.empty(size, dtype=np.uint8)
    pos = 0
    for i in range(n):
        first = True
        for g in top[i]:
            if g < 0:
                break
            if not first:
                buffer[pos] = 32
                pos += 1
            first = False
            for b in range(symbol_offsets[g], symbol_offsets[g + 1]):
                buffer[pos] = symbol_bytes[b]
                pos += 1
        offsets[i + 1] = pos
    return buffer[:pos], offsets


def sentences(top: np.ndarray, symbols) -> list[str]:
    """The gene sentences of ``top`` (gene indices per cell, -1 padded)."""
    encoded = [s.encode() for s in symbols]
    symbol_offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    symbol_offsets[1:] = np.cumsum([len(e) for e in encoded])
    symbol_bytes = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    buffer, offsets = join_symbols(top, symbol_bytes, symbol_offsets)
    raw = buffer.tobytes()
    return [raw[offsets[i] : offsets[i + 1]].decode() for i in range(top.shape[0])]


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
