"""Sparse kernels for cell embeddings (numba): per-entry weights, the weighted average over CSR
rows, each cell's top genes, and gene sentences built as bytes."""

from __future__ import annotations

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload
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


@numba.njit(parallel=True, fastmath=True, cache=True)
def _scaled_to_total(indptr, data, target_sum, out):
    for i in numba.prange(indptr.shape[0] - 1):
        row, scaled = data[indptr[i] : indptr[i + 1]], out[indptr[i] : indptr[i + 1]]
        total = 0.0
        for k in range(row.shape[0]):
            total += row[k]
        # row views and a float32 scale let the loops vectorise: 4x faster than indexing data[k]
        scale = np.float32(target_sum / total) if total > 0 else np.float32(0.0)
        for k in range(row.shape[0]):
            scaled[k] = row[k] * scale


def log_normalized(indptr: np.ndarray, data: np.ndarray, target_sum: float, *, out: np.ndarray) -> np.ndarray:
    """log1p(x · target_sum / cell total) per stored entry into ``out`` (float32; numpy's SIMD log1p)."""
    _scaled_to_total(indptr, data, target_sum, out)
    return np.log1p(out, out=out)


@numba.njit(parallel=True, cache=True)
def keep_top(indptr, indices, values, gene_weight, top_n, kept):
    """Zeroes every entry of each cell but its top_n counted ones (gene_weight > 0, value > 0);
    kept[i] = how many cell i keeps.

    By value; ties go to the lower gene index.
    """
    counted = gene_weight > 0
    for i in numba.prange(indptr.shape[0] - 1):
        start, end = indptr[i], indptr[i + 1]
        top = _top_positions(values, indices, counted, start, end, top_n)
        kept[i] = top.shape[0]
        kept_values = values[top]
        values[start:end] = 0
        values[top] = kept_values


def to_bfloat16(values: np.ndarray) -> np.ndarray:
    """float32 values as bfloat16 bit patterns (uint16), rounded to the nearest, ties to even:
    the upper half of each float32, so half the bytes for 8 significant bits instead of 24."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounded = bits + (np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1)))
    return (rounded >> np.uint32(16)).astype(np.uint16)


@intrinsic
def _bfloat16_bits_to_float32(typingctx, bits):
    """One bfloat16 (uint16 bits) as float32: the bits moved into the upper half. Plain integer
    operations, which the compiler vectorises on any CPU."""

    def codegen(context, builder, signature, args):
        wide = builder.zext(args[0], ir.IntType(32))
        return builder.bitcast(builder.shl(wide, ir.Constant(ir.IntType(32), 16)), ir.FloatType())

    return types.float32(types.uint16), codegen


# AVX512-BF16's vdpbf16ps multiplies 32 bfloat16 pairs and adds them into 16 float32 lanes: two
# gathered gene rows per instruction instead of one widening multiply-add per row. numba has no
# vector types, so it is written as LLVM IR with the instruction as inline assembly (which needs
# LLVM's assembly parser); CPUs without it take the widening path.
BFLOAT16_DOT = "avx512bf16" in llvm.get_host_cpu_features().flatten()
if BFLOAT16_DOT:
    llvm.initialize_native_asmparser()
_LANES = 16
_FLOATS = ir.VectorType(ir.FloatType(), _LANES)
_HALVES = ir.VectorType(ir.IntType(16), _LANES)
_WORDS = ir.VectorType(ir.IntType(32), _LANES)


@intrinsic
def _bfloat16_pair(typingctx, first, second):
    """Two float32 as bfloat16 (nearest, ties to even) packed in one uint32, ``first`` low."""

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        halves = []
        for value in args:
            bits = builder.bitcast(value, i32)
            odd = builder.and_(builder.lshr(bits, ir.Constant(i32, 16)), ir.Constant(i32, 1))
            rounded = builder.add(bits, builder.add(ir.Constant(i32, 0x7FFF), odd))
            halves.append(builder.lshr(rounded, ir.Constant(i32, 16)))
        return builder.or_(halves[0], builder.shl(halves[1], ir.Constant(i32, 16)))

    return types.uint32(types.float32, types.float32), codegen


@intrinsic
def _dot_pairs(typingctx, acc, e0, e1, e2, e3, e4, e5, e6, e7, j, w01, w23, w45, w67):
    """acc[j : j + 16] += w0·e0[j : j + 16] + … + w7·e7[j : j + 16] for bfloat16 rows (uint16) and
    weights packed two per uint32 (:func:`_bfloat16_pair`): four vdpbf16ps, each on two rows
    interleaved column by column."""
    weight = types.uint32
    signature = types.void(acc, e0, e1, e2, e3, e4, e5, e6, e7, types.intp, weight, weight, weight, weight)

    def codegen(context, builder, signature, args):
        def lanes(position, vector):
            array = context.make_array(signature.args[position])(context, builder, args[position])
            return builder.bitcast(builder.gep(array.data, [args[9]]), vector.as_pointer())

        target = lanes(0, _FLOATS)
        total = builder.load(target, align=4)
        interleave = ir.Constant(
            ir.VectorType(ir.IntType(32), 2 * _LANES), [x for i in range(_LANES) for x in (i, i + _LANES)]
        )
        broadcast = ir.Constant(_WORDS, [0] * _LANES)
        dot = ir.InlineAsm(ir.FunctionType(_FLOATS, [_FLOATS] * 3), "vdpbf16ps $2, $1, $0", "=v,v,v,0")
        for pair in range(4):
            first = builder.load(lanes(1 + 2 * pair, _HALVES), align=2)
            second = builder.load(lanes(2 + 2 * pair, _HALVES), align=2)
            rows = builder.bitcast(builder.shuffle_vector(first, second, interleave), _FLOATS)
            packed = builder.insert_element(
                ir.Constant(_WORDS, ir.Undefined), args[10 + pair], ir.Constant(ir.IntType(32), 0)
            )
            weights = builder.shuffle_vector(packed, ir.Constant(_WORDS, ir.Undefined), broadcast)
            total = builder.call(dot, [rows, builder.bitcast(weights, _FLOATS), total])
        builder.store(total, target, align=4)
        return context.get_dummy_value()

    return signature, codegen


def _paired_columns(acc, e0, e1, e2, e3, e4, e5, e6, e7, w0, w1, w2, w3, w4, w5, w6, w7):
    """Adds Σ w·e over the columns vdpbf16ps can take (whole groups of 16 of bfloat16 rows, on a
    CPU that has it) and returns how many; the caller does the rest."""


@overload(_paired_columns, inline="always")
def _paired_columns_implementation(acc, e0, e1, e2, e3, e4, e5, e6, e7, w0, w1, w2, w3, w4, w5, w6, w7):
    if not (BFLOAT16_DOT and e0.dtype == types.uint16):
        return lambda acc, e0, e1, e2, e3, e4, e5, e6, e7, w0, w1, w2, w3, w4, w5, w6, w7: 0

    def paired(acc, e0, e1, e2, e3, e4, e5, e6, e7, w0, w1, w2, w3, w4, w5, w6, w7):
        w01, w23 = _bfloat16_pair(w0, w1), _bfloat16_pair(w2, w3)
        w45, w67 = _bfloat16_pair(w4, w5), _bfloat16_pair(w6, w7)
        columns = acc.shape[0] - acc.shape[0] % _LANES
        for j in range(0, columns, _LANES):
            _dot_pairs(acc, e0, e1, e2, e3, e4, e5, e6, e7, j, w01, w23, w45, w67)
        return columns

    return paired


def _widened(value):
    """A table entry as float32 (float32 tables as they are, bfloat16 ones converted)."""


@overload(_widened, inline="always")
def _widened_implementation(value):
    if value == types.uint16:
        return lambda value: _bfloat16_bits_to_float32(value)
    return lambda value: value


@numba.njit(parallel=True, cache=True)
def index_bounds(indices):
    """(smallest, largest) of a non-empty index array, in one parallel pass."""
    low, high = indices[0], indices[0]
    for k in numba.prange(indices.shape[0]):
        low = min(low, indices[k])
        high = max(high, indices[k])
    return low, high


@numba.njit(parallel=True, cache=True)
def value_flags(data):
    """How many stored values are not finite, negative, and finite but not whole, in one parallel pass."""
    non_finite, negative, fractional = 0, 0, 0
    for k in numba.prange(data.shape[0]):
        x = data[k]
        finite = np.isfinite(x)
        non_finite += not finite
        negative += x < 0
        fractional += finite and x != np.floor(x)
    return non_finite, negative, fractional


ROW_BLOCK = 512
TILE_BYTES = 3 * 2**19  # 1.5 MB of float32 embedding rows per gene block: fastest here at d = 384 and 1536
TILE_BYTES_BFLOAT16 = 3 * 2**18  # 0.75 MB of bfloat16 rows (the same genes per block), the fastest here


@numba.njit(parallel=True, fastmath=True, boundscheck=False, cache=True)
def weighted_sum(indptr, indices, values, gene_weight, embeddings, out, used):
    """out[i] += Σ_k values[k]·gene_weight[g]·E[g] over the entries k = (cell i, gene g), and
    used[i] = how many of them have a positive weight values[k]·gene_weight[g] (values and weights
    are non-negative here); an empty ``used`` skips the count.

    ``embeddings`` is float32, or bfloat16 bit patterns (uint16, :func:`to_bfloat16`): half the
    bytes per gathered row, widened to float32 in registers, or, on CPUs with AVX512-BF16, taken
    two rows per vdpbf16ps with the weights rounded to bfloat16 too (:func:`_dot_pairs`); sums are
    float32 either way.
    Not divided by the cell's total weight: the caller L2-normalises the rows, which cancels it.

    Blocked for the cache: each thread takes ROW_BLOCK cells and walks the genes in blocks of
    a tile's worth of embedding rows, so the rows of one gene block are reused by all its cells
    while they are still in cache (CSR rows are sorted by gene, so a cursor per cell marks where the
    next block starts). Entries go eight at a time: one pass over the cell's accumulator row per
    eight embedding rows instead of one per row, which halves the loads and stores per multiply-add.
    """
    n_cells = indptr.shape[0] - 1
    n_genes = embeddings.shape[0]
    bfloat16 = embeddings.itemsize == 2
    tile = TILE_BYTES_BFLOAT16 if bfloat16 else TILE_BYTES
    gene_block = max(16, tile // (embeddings.itemsize * embeddings.shape[1]))
    for block in numba.prange((n_cells + ROW_BLOCK - 1) // ROW_BLOCK):
        first = block * ROW_BLOCK
        last = min(n_cells, first + ROW_BLOCK)
        cursor = indptr[first:last].copy()
        for gene_end in range(gene_block, n_genes + gene_block, gene_block):
            for i in range(first, last):
                k = cursor[i - first]
                end = indptr[i + 1]
                acc = out[i]  # row views keep the inner loops free of index checks, so they vectorise
                positive = 0
                while k + 7 < end and indices[k + 7] < gene_end:
                    g0, g1, g2, g3 = indices[k], indices[k + 1], indices[k + 2], indices[k + 3]
                    g4, g5, g6, g7 = indices[k + 4], indices[k + 5], indices[k + 6], indices[k + 7]
                    w0, w1 = values[k] * gene_weight[g0], values[k + 1] * gene_weight[g1]
                    w2, w3 = values[k + 2] * gene_weight[g2], values[k + 3] * gene_weight[g3]
                    w4, w5 = values[k + 4] * gene_weight[g4], values[k + 5] * gene_weight[g5]
                    w6, w7 = values[k + 6] * gene_weight[g6], values[k + 7] * gene_weight[g7]
                    positive += (
                        (w0 > 0) + (w1 > 0) + (w2 > 0) + (w3 > 0) + (w4 > 0) + (w5 > 0) + (w6 > 0) + (w7 > 0)
                    )
                    e0, e1, e2, e3 = embeddings[g0], embeddings[g1], embeddings[g2], embeddings[g3]
                    e4, e5, e6, e7 = embeddings[g4], embeddings[g5], embeddings[g6], embeddings[g7]
                    paired = _paired_columns(
                        acc, e0, e1, e2, e3, e4, e5, e6, e7, w0, w1, w2, w3, w4, w5, w6, w7
                    )
                    for j in range(paired, acc.shape[0]):
                        acc[j] += (
                            w0 * _widened(e0[j])
                            + w1 * _widened(e1[j])
                            + w2 * _widened(e2[j])
                            + w3 * _widened(e3[j])
                        ) + (
                            w4 * _widened(e4[j])
                            + w5 * _widened(e5[j])
                            + w6 * _widened(e6[j])
                            + w7 * _widened(e7[j])
                        )
                    k += 8
                while k < end and indices[k] < gene_end:
                    w = values[k] * gene_weight[indices[k]]
                    positive += w > 0
                    row = embeddings[indices[k]]
                    for j in range(acc.shape[0]):
                        acc[j] += w * _widened(row[j])
                    k += 1
                cursor[i - first] = k
                if used.shape[0]:
                    used[i] += positive


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
