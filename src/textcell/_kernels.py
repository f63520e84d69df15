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


@numba.njit(parallel=True, cache=True)
def _scaled_to_total(indptr, data, target_sum, out):
    for i in numba.prange(indptr.shape[0] - 1):
        total = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            total += data[k]
        scale = target_sum / total if total > 0 else 0.0
        for k in range(indptr[i], indptr[i + 1]):
            out[k] = data[k] * scale


def log_normalized(indptr: np.ndarray, data: np.ndarray, target_sum: float, *, out: np.ndarray) -> np.ndarray:
    """log1p(x · target_sum / cell total) per stored entry into ``out`` (float32; numpy's SIMD log1p)."""
    _scaled_to_total(indptr, data, target_sum, out)
    return np.log1p(out, out=out)


@numba.njit(parallel=True, cache=True)
def keep_top(indptr, indices, values, gene_weight, top_n):
    """Zeroes every entry of each cell but its top_n counted ones (gene_weight > 0, value > 0).

    By value; ties go to the lower gene index.
    """
    counted = gene_weight > 0
    for i in numba.prange(indptr.shape[0] - 1):
        start, end = indptr[i], indptr[i + 1]
        top = _top_positions(values, indices, counted, start, end, top_n)
        kept = values[top]
        values[start:end] = 0
        values[top] = kept


@numba.njit(parallel=True, cache=True)
def genes_used(indptr, indices, values, gene_weight, used):
    """used[i] = how many genes count for cell i: a positive value and a positive gene weight."""
    for i in numba.prange(indptr.shape[0] - 1):
        n = 0
        for k in range(indptr[i], indptr[i + 1]):
            n += values[k] > 0 and gene_weight[indices[k]] > 0
        used[i] = n


ROW_BLOCK = 512
TILE_FLOATS = 3 * 2**17  # 1.5 MB of embedding rows per gene block: fastest here at d = 384 and 1536


@numba.njit(parallel=True, fastmath=True, boundscheck=False, cache=True)
def weighted_sum(indptr, indices, values, gene_weight, embeddings, out):
    """out[i] += Σ_k values[k]·gene_weight[g]·E[g] over the entries k = (cell i, gene g).

    Not divided by the cell's total weight: the caller L2-normalises the rows, which cancels it.

    Blocked for the cache: each thread takes ROW_BLOCK cells and walks the genes in blocks of
    TILE_FLOATS // d, so the embedding rows of one gene block are reused by all its cells while they
    are still in cache (CSR rows are sorted by gene, so a cursor per cell marks where the next block
    starts). Entries go eight at a time: one pass over the cell's accumulator row per
    eight embedding rows instead of one per row, which halves the loads and stores per multiply-add.
    """
    n_cells = indptr.shape[0] - 1
    n_genes = embeddings.shape[0]
    gene_block = max(16, TILE_FLOATS // embeddings.shape[1])
    for block in numba.prange((n_cells + ROW_BLOCK - 1) // ROW_BLOCK):
        first = block * ROW_BLOCK
        last = min(n_cells, first + ROW_BLOCK)
        cursor = indptr[first:last].copy()
        for gene_end in range(gene_block, n_genes + gene_block, gene_block):
            for i in range(first, last):
                k = cursor[i - first]
                end = indptr[i + 1]
                acc = out[i]  # row views keep the inner loops free of index checks, so they vectorise
                while k + 7 < end and indices[k + 7] < gene_end:
                    g0, g1, g2, g3 = indices[k], indices[k + 1], indices[k + 2], indices[k + 3]
                    g4, g5, g6, g7 = indices[k + 4], indices[k + 5], indices[k + 6], indices[k + 7]
                    w0, w1 = values[k] * gene_weight[g0], values[k + 1] * gene_weight[g1]
                    w2, w3 = values[k + 2] * gene_weight[g2], values[k + 3] * gene_weight[g3]
                    w4, w5 = values[k + 4] * gene_weight[g4], values[k + 5] * gene_weight[g5]
                    w6, w7 = values[k + 6] * gene_weight[g6], values[k + 7] * gene_weight[g7]
                    e0, e1, e2, e3 = embeddings[g0], embeddings[g1], embeddings[g2], embeddings[g3]
                    e4, e5, e6, e7 = embeddings[g4], embeddings[g5], embeddings[g6], embeddings[g7]
                    for j in range(acc.shape[0]):
                        acc[j] += (w0 * e0[j] + w1 * e1[j] + w2 * e2[j] + w3 * e3[j]) + (
                            w4 * e4[j] + w5 * e5[j] + w6 * e6[j] + w7 * e7[j]
                        )
                    k += 8
                while k < end and indices[k] < gene_end:
                    w = values[k] * gene_weight[indices[k]]
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
    """Rows start..stop-1 of a canonical CSR matrix as views of its arrays.

    scipy's slicing copies them, and so does its constructor (its format check copies a view of a
    small part of an array), hence the arrays are assigned to an empty matrix.
    """
    first, last = csr.indptr[start], csr.indptr[stop]
    rows = sparse.csr_matrix((stop - start, csr.shape[1]), dtype=csr.dtype)
    rows.data, rows.indices = csr.data[first:last], csr.indices[first:last]
    rows.indptr = csr.indptr[start : stop + 1] - first
    rows.has_canonical_format = True
    return rows


def as_csr(block) -> sparse.csr_matrix:
    """A chunk as canonical float CSR (sorted indices, no duplicates)."""
    csr = sparse.csr_matrix(block, dtype=np.float32) if not sparse.isspmatrix_csr(block) else block
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    return csr
