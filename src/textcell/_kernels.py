"""Sparse kernels for cell embeddings (numba): per-entry weights, the weighted average over CSR
rows, each cell's top genes, and gene sentences built as bytes."""

from __future__ import annotations

import numba
import numpy as np
from scipy import sparse


@numba.njit(cache=True)
def _top_positions(values, indices, eligible, start, end, k):
    """Positions of the row's k largest positive values among eligible genes, largest first.

    Ties go to the lower gene index (CSR rows are sorted by gene index). Only the candidates at or
    above the k-th largest value are sorted, not the whole row.
    """
    candidates = np.empty(end - start, dtype=np.int64)
    n = 0
    for p in range(start, end):
        if values[p] > 0 and eligible[indices[p]]:
            candidates[n] = p
            n += 1
    keys = np.empty(n, dtype=values.dtype)
    for j in range(n):
        keys[j] = -values[candidates[j]]
    if n > k:
        kth = np.partition(keys, k - 1)[k - 1]
        ties = k - np.sum(keys < kth)
        m = 0
        for j in range(n):  # in gene order, so the ties kept are the lowest gene indices
            if keys[j] < kth or (keys[j] == kth and ties > 0):
                ties -= keys[j] == kth
                candidates[m] = candidates[j]
                keys[m] = keys[j]
                m += 1
        n = k
    return candidates[:n][np.argsort(keys[:n], kind="mergesort")]


def log_normalized(csr: sparse.csr_matrix, target_sum: float) -> np.ndarray:
    """log1p(x · target_sum / cell total) per stored entry (numpy's SIMD log1p); empty cells stay 0."""
    totals = np.asarray(csr.sum(axis=1), dtype=np.float64).ravel()
    scale = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
    values = csr.data.astype(np.float32) * np.repeat(scale.astype(np.float32), np.diff(csr.indptr))
    return np.log1p(values, out=values)


@numba.njit(parallel=True, fastmath=True, cache=True)
def cell_weights(indptr, indices, values, gene_weight, top_n, weights, used):
    """weights[k] = w_ig / Σ_g w_ig for entry k = (cell i, gene g); 0 for genes that do not count.

    w_ig = gene_weight[g] · values[k]; only genes with gene_weight > 0 and a positive value count,
    and with top_n > 0 only the cell's top_n of those (by value; ties: lower gene index first).
    ``used[i]`` counts the genes that cell i used. ``weights`` is float32, so that weighted_sum
    runs in one precision and vectorises.
    """
    counted = gene_weight > 0
    for i in numba.prange(indptr.shape[0] - 1):
        start, end = indptr[i], indptr[i + 1]
        n = 0
        wsum = 0.0
        if top_n > 0:
            weights[start:end] = 0.0
            for k in _top_positions(values, indices, counted, start, end, top_n):
                weights[k] = values[k] * gene_weight[indices[k]]
                wsum += weights[k]
                n += 1
        else:
            for k in range(start, end):
                counts = gene_weight[indices[k]] > 0 and values[k] > 0
                weights[k] = values[k] * gene_weight[indices[k]] if counts else 0.0
                wsum += weights[k]
                n += counts
        used[i] = n
        scale = 1.0 / wsum if wsum > 0 else 0.0
        for k in range(start, end):
            weights[k] *= scale


ROW_BLOCK = 512
GENE_BLOCK = 1024


@numba.njit(parallel=True, fastmath=True, boundscheck=False, cache=True)
def weighted_sum(indptr, indices, weights, embeddings, out):
    """out[i] += Σ_k weights[k]·E[indices[k]] over the entries k of cell i.

    Blocked for the cache: each thread takes ROW_BLOCK cells and walks the genes in blocks of
    GENE_BLOCK, so the embedding rows of one gene block are reused by all its cells while they are
    still in cache (CSR rows are sorted by gene, so a cursor per cell marks where the next block
    starts). Entries go eight at a time: one pass over the cell's accumulator row per eight
    embedding rows instead of one per row, which halves the loads and stores per multiply-add.
    """
    n_cells = indptr.shape[0] - 1
    n_genes = embeddings.shape[0]
    for block in numba.prange((n_cells + ROW_BLOCK - 1) // ROW_BLOCK):
        first = block * ROW_BLOCK
        last = min(n_cells, first + ROW_BLOCK)
        cursor = indptr[first:last].copy()
        for gene_end in range(GENE_BLOCK, n_genes + GENE_BLOCK, GENE_BLOCK):
            for i in range(first, last):
                k = cursor[i - first]
                end = indptr[i + 1]
                acc = out[i]  # row views keep the inner loops free of index checks, so they vectorise
                while k + 7 < end and indices[k + 7] < gene_end:
                    w0, w1, w2, w3 = weights[k], weights[k + 1], weights[k + 2], weights[k + 3]
                    w4, w5, w6, w7 = weights[k + 4], weights[k + 5], weights[k + 6], weights[k + 7]
                    e0, e1 = embeddings[indices[k]], embeddings[indices[k + 1]]
                    e2, e3 = embeddings[indices[k + 2]], embeddings[indices[k + 3]]
                    e4, e5 = embeddings[indices[k + 4]], embeddings[indices[k + 5]]
                    e6, e7 = embeddings[indices[k + 6]], embeddings[indices[k + 7]]
                    for j in range(acc.shape[0]):
                        acc[j] += (w0 * e0[j] + w1 * e1[j] + w2 * e2[j] + w3 * e3[j]) + (
                            w4 * e4[j] + w5 * e5[j] + w6 * e6[j] + w7 * e7[j]
                        )
                    k += 8
                while k < end and indices[k] < gene_end:
                    w = weights[k]
                    row = embeddings[indices[k]]
                    for j in range(acc.shape[0]):
                        acc[j] += w * row[j]
                    k += 1
                cursor[i - first] = k


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
        top = _top_positions(data, indices, eligible, indptr[i], indptr[i + 1], k)
        out[i, : top.shape[0]] = indices[top]


def csr_rows(csr: sparse.csr_matrix, start: int, stop: int) -> sparse.csr_matrix:
    """Rows start..stop-1 of a CSR matrix as views of its arrays (scipy's slicing copies them)."""
    first, last = csr.indptr[start], csr.indptr[stop]
    return sparse.csr_matrix(
        (csr.data[first:last], csr.indices[first:last], csr.indptr[start : stop + 1] - first),
        shape=(stop - start, csr.shape[1]),
        copy=False,
    )


def as_csr(block) -> sparse.csr_matrix:
    """A chunk as canonical float CSR (sorted indices, no duplicates)."""
    csr = sparse.csr_matrix(block, dtype=np.float32) if not sparse.isspmatrix_csr(block) else block
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    return csr
