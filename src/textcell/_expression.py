"""The one home for getting an expression matrix and deciding and applying its normalisation.

Every stage that reads expression (cell embeddings, annotation, clustering, gene programs,
perturbation, benchmarks) calls this module: one parameter, ``normalize``, with one meaning, and one
provenance string.

``normalize="auto"`` looks at the values: non-negative integers are raw counts, normalised to
10,000 per cell and log1p'd; other non-negative values are taken as log-normalised, as they are;
negative values (scaled data) are refused with what to pass instead. ``"counts"`` insists on the
first (and refuses values that are not counts), ``"none"`` on the second.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import NamedTuple

import anndata as ad
import numpy as np
from anndata.abc import CSCDataset, CSRDataset
from scipy import sparse

from .errors import InputError

logger = logging.getLogger("textcell")

NORMALIZE = ("auto", "counts", "none")
TARGET_SUM = 1e4
LOG_NORMALIZED = "normalize_total(1e4)+log1p"
AS_GIVEN = "as given"
CHUNK_ROWS = 20_000
SAMPLE_BLOCKS, SAMPLE_ROWS = 10, 2_000  # what is_counts reads of a backed or Dask matrix
SCALED_DATA = (
    "The expression values include negatives (scaled data?). Use counts or log-normalised values: "
    "pass layer='counts' or use_raw=True (CLI: --layer counts or --use-raw)."
)


def get_matrix(adata: ad.AnnData, layer: str | None = None):
    """``adata.X`` or ``adata.layers[layer]``, with an error that lists the layers."""
    if layer is None:
        if adata.X is None:
            raise InputError("The AnnData has no X; pass layer= with the expression.")
        return adata.X
    if layer not in adata.layers:
        raise InputError(f"Layer {layer!r} not found; available layers: {list(adata.layers) or 'none'}.")
    return adata.layers[layer]


def expression_source(adata: ad.AnnData, *, layer: str | None = None, use_raw: bool = False):
    """The matrix to read (``X``, a layer or ``raw.X``; dense, sparse, backed or Dask, not loaded)
    and the names of its genes."""
    if not use_raw:
        matrix, names = get_matrix(adata, layer), adata.var_names
    elif layer is not None:
        raise InputError("Pass either layer= or use_raw=True, not both.")
    elif adata.raw is None:
        raise InputError("use_raw=True needs adata.raw; this AnnData has none.")
    else:
        matrix, names = adata.raw.X, adata.raw.var_names
    if matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise InputError(
            f"The expression matrix is empty ({matrix.shape[0]} cells × {matrix.shape[1]} genes); "
            "pass data with cells and genes."
        )
    return matrix, names


def row_chunks(
    matrix, n_obs: int | None = None, chunk_size: int = CHUNK_ROWS
) -> Iterator[tuple[int, sparse.csr_matrix]]:
    """Canonical float32 CSR chunks of rows of a dense, sparse, backed or Dask matrix, each checked
    for a consistent sparse structure and for NaN, infinite and negative values."""
    for start, csr, flags in _scanned_chunks(matrix, n_obs, chunk_size):
        if flags.negative:
            raise InputError(SCALED_DATA)
        yield start, csr


class ValueFlags(NamedTuple):
    """What one pass over a chunk's stored values found (counts of values)."""

    non_finite: int = 0
    negative: int = 0
    fractional: int = 0


def _scanned_chunks(
    matrix, n_obs: int | None, chunk_size: int
) -> Iterator[tuple[int, sparse.csr_matrix, ValueFlags]]:
    """:func:`row_chunks` without the sign check, with what one pass over each chunk's values found:
    structure and finiteness are checked, negative and non-integer values counted."""
    from . import _kernels

    n_obs = matrix.shape[0] if n_obs is None else n_obs
    check_structure(matrix)
    in_memory_csr = sparse.issparse(matrix) and matrix.format == "csr" and matrix.has_canonical_format
    for start in range(0, n_obs, chunk_size):
        stop = min(n_obs, start + chunk_size)
        block = _kernels.csr_rows(matrix, start, stop) if in_memory_csr else matrix[start:stop]
        if hasattr(block, "compute"):
            block = block.compute()
        csr = _kernels.as_csr(block)
        if not in_memory_csr:  # check_structure has checked the whole matrix's indices
            _check_indices(csr.indices, csr.shape[1])
        flags = ValueFlags(*_kernels.value_flags(csr.data)) if csr.nnz else ValueFlags()
        if flags.non_finite:
            raise InputError("The expression matrix contains NaN or infinite values.")
        yield start, csr, flags


CORRUPT = (
    "The expression matrix is corrupt: its sparse structure is inconsistent ({}). The file may be "
    "damaged or truncated; write it again from its source."
)


def check_structure(matrix) -> None:
    """Refuse a sparse matrix (in memory or backed) whose index arrays contradict its shape, which
    would otherwise make later steps read out of bounds or loop for ever."""
    if sparse.issparse(matrix) and matrix.format in ("csr", "csc"):
        indptr, indices, nnz = matrix.indptr, matrix.indices, len(matrix.data)
    elif isinstance(matrix, CSRDataset | CSCDataset):
        indptr, indices, nnz = matrix.group["indptr"][...], None, matrix.group["data"].shape[0]
    else:
        return
    major, minor = matrix.shape if matrix.format == "csr" else matrix.shape[::-1]
    if len(indptr) != major + 1 or indptr[0] != 0 or indptr[-1] != nnz or (np.diff(indptr) < 0).any():
        raise InputError(CORRUPT.format(f"row pointers do not fit {major:,} rows and {nnz:,} values"))
    if indices is not None:
        _check_indices(indices, minor)


def _check_indices(indices: np.ndarray, bound: int) -> None:
    from . import _kernels

    if not indices.size:
        return
    low, high = _kernels.index_bounds(indices)
    if low < 0 or high >= bound:
        raise InputError(CORRUPT.format(f"indices outside 0..{bound - 1}"))


def is_counts(matrix, n_obs: int | None = None) -> bool:
    """Whether the stored values are non-negative integers (raw counts); an all-zero matrix is not.

    In-memory matrices are checked whole, stopping at the first value that is not an integer.
    Backed and Dask matrices are checked on up to ``SAMPLE_BLOCKS`` blocks of rows spread evenly
    over the file, so the decision costs a fraction of a pass over data larger than memory.
    """
    n_obs = matrix.shape[0] if n_obs is None else n_obs
    in_memory = isinstance(matrix, np.ndarray) or sparse.issparse(matrix)
    starts = [0] if in_memory else np.linspace(0, max(n_obs - SAMPLE_ROWS, 0), SAMPLE_BLOCKS).astype(int)
    seen = False
    for start in dict.fromkeys(int(s) for s in starts):
        stop = n_obs if in_memory else min(n_obs, start + SAMPLE_ROWS)
        rows = matrix[start:stop] if not in_memory else matrix
        for _, csr, flags in _scanned_chunks(rows, stop - start, CHUNK_ROWS):
            if flags.negative:
                raise InputError(SCALED_DATA)
            if flags.fractional:
                return False
            seen = seen or csr.nnz > 0
    return seen


def decide_normalization(matrix, normalize: str = "auto", n_obs: int | None = None) -> bool:
    """Whether to log-normalise ``matrix`` (counts → 1e4 per cell + log1p) under ``normalize``."""
    if normalize not in NORMALIZE:
        raise InputError(f"Unknown normalize {normalize!r}; use one of {', '.join(NORMALIZE)}.")
    if normalize == "none":
        return False
    counts = is_counts(matrix, n_obs)
    if normalize == "counts" and not counts:
        raise InputError(
            "normalize='counts' needs raw counts (non-negative integers), but these values are not; "
            "pass the counts layer (layer=...) or normalize='auto'."
        )
    logger.info(
        "Expression looks like %s; %s.",
        "raw counts" if counts else "normalised values",
        "normalising to 1e4 counts + log1p" if counts else "using the values as they are",
    )
    return counts


def normalization_label(log_normalize: bool) -> str:
    """The provenance string of a normalisation decision."""
    return LOG_NORMALIZED if log_normalize else AS_GIVEN


def entry_values(csr: sparse.csr_matrix, log_normalize: bool, out: np.ndarray | None = None) -> np.ndarray:
    """The stored values of a CSR block into ``out`` (float32, new if ``None``), log-normalised
    (x · 1e4 / cell total, log1p) if ``log_normalize``; always a copy, never the caller's array."""
    from . import _kernels

    out = np.empty(csr.nnz, dtype=np.float32) if out is None else out
    if log_normalize:
        return _kernels.log_normalized(csr.indptr, csr.data, TARGET_SUM, out=out)
    out[:] = csr.data
    return out


def log_expression(
    adata: ad.AnnData,
    *,
    layer: str | None = None,
    use_raw: bool = False,
    normalize: str = "auto",
) -> tuple[sparse.csr_matrix, np.ndarray, str]:
    """Log-normalised expression as an in-memory float32 CSR matrix, the names of its genes, and
    the provenance string of the normalisation applied."""
    matrix, names = expression_source(adata, layer=layer, use_raw=use_raw)
    log_normalize = decide_normalization(matrix, normalize)
    chunks = [csr for _, csr in row_chunks(matrix)]
    csr = sparse.vstack(chunks, format="csr") if chunks else sparse.csr_matrix((0, matrix.shape[1]))
    csr = sparse.csr_matrix(csr, dtype=np.float32)
    if not csr.count_nonzero():
        raise InputError(
            "Every expression value is zero: pass the layer that holds the expression "
            "(layer=..., use_raw=True)."
        )
    if log_normalize:
        csr.data = entry_values(csr, log_normalize=True)
    return csr, np.asarray(names), normalization_label(log_normalize)


def gene_totals(adata: ad.AnnData, layer: str | None = None) -> np.ndarray | None:
    """Total expression of each gene, or ``None`` when the values cannot be summed meaningfully.

    Reads backed files in chunks of rows. Scaled data (negative values) is not expression;
    then ``adata.raw`` is used when it holds the same genes, otherwise ``None``.
    """
    if layer is None and adata.X is None:
        return None
    matrix = get_matrix(adata, layer)
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
    return totals


def _column_sums(matrix, n_obs: int) -> tuple[np.ndarray, bool]:
    """Column sums over row chunks, and whether any value is negative."""
    totals = np.zeros(matrix.shape[1])
    negative = False
    for _, csr, flags in _scanned_chunks(matrix, n_obs, CHUNK_ROWS):
        negative = negative or flags.negative > 0
        totals += np.bincount(csr.indices, weights=csr.data, minlength=matrix.shape[1])
    return totals, negative
