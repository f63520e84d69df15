"""tl.embed_cells: one vector per cell from the gene embeddings (the GenePT idea), into ``obsm``.

``weighted`` (GenePT-w): the expression-weighted average of the cell's genes' embeddings.
``topn``: the same over each cell's ``n_top`` most expressed genes.
``sentence`` (GenePT-s): the cell as the symbols of its ``n_top`` most expressed genes, embedded
as text (identical sentences once, through the vector cache).

Works on dense, CSR and CSC matrices, backed h5ad files (in chunks of rows, bounded memory) and
Dask arrays (block by block, so the same call runs on a ``dask.distributed`` cluster).
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from pathlib import Path

import anndata as ad
import numpy as np
from anndata.io import write_elem
from scipy import sparse

from .. import _kernels
from .._defaults import DEFAULT_MODEL
from .._expression import decide_normalization, entry_values, expression_source, row_chunks
from .._progress import progress_bar
from ..errors import InputError
from ..recipe import CellRecipe, embedding_identity

logger = logging.getLogger("textcell")
MIN_CELLS_FOR_STATISTICS = 10  # per-gene idf and z-scores over fewer cells are degenerate


def embed_cells(
    adata: ad.AnnData,
    *,
    recipe: CellRecipe | str = "textcell",
    method: str | None = None,
    genes_key: str = "textcell",
    layer: str | None = None,
    use_raw: bool = False,
    normalize: str | None = None,
    highly_variable: bool | None = None,
    idf: bool | None = None,
    center: bool | None = None,
    whiten: bool | None = None,
    scale: bool | None = None,
    n_top: int | None = None,
    precision: str | None = None,
    model=DEFAULT_MODEL,
    chunk_size: int = 10_000,
    key_added: str = "X_textcell",
    copy: bool = False,
) -> ad.AnnData | None:
    """Embed every cell from the text embeddings of its genes.

    Parameters
    ----------
    adata
        Annotated data with gene embeddings in ``varm[genes_key]`` (from
        :func:`textcell.tl.embed_genes`). ``X`` (or ``layer``) may be dense, sparse, backed or
        a Dask array.
    recipe
        How the cells are embedded: a preset (``"textcell"``, the defaults below; ``"genept-w"``,
        GenePT-w exactly as published) or a :class:`textcell.recipe.CellRecipe`. The options
        ``method`` to ``n_top`` replace the recipe's fields when given (``None``: the recipe's).
    method
        ``"weighted"``, ``"topn"`` or ``"sentence"``.
    genes_key
        Key of the gene embeddings in ``varm``.
    layer
        Expression layer to use instead of ``X``.
    use_raw
        Use ``adata.raw.X`` (its genes must be ``adata``'s).
    normalize
        ``"counts"``: normalise each cell to 10,000 counts and take log1p; ``"none"``: use the
        values as they are (already log-normalised); ``"auto"``: ``counts`` when the values are
        non-negative integers, else ``none``. Negative values (scaled data) are refused.
    highly_variable
        Use only genes with ``var['highly_variable']``. By default they are used when that column
        exists (as in scanpy's ``pca``).
    idf
        Down-weight ubiquitous genes by log(n_cells / (1 + cells expressing the gene)); genes
        expressed in every cell get no weight. Costs one more pass over the matrix (shared with
        ``scale``).
    center
        Subtract the mean gene embedding (the direction all gene texts share) first.
    whiten
        PCA-whiten the used genes' embeddings first: centre them, rotate them onto their principal
        axes and give every axis unit variance (axes with no variance are dropped, so the cell
        vectors may have fewer dimensions than the gene vectors). Text vectors share a few
        dominant directions (gene descriptions look alike); whitened, they spread the cells out
        as much as independent vectors would while similar genes stay similar. Implies ``center``.
        With no more used genes than dimensions, whitening would only rotate the expression values:
        the vectors are then centred instead, with a warning (``params['whiten']`` says which).
    scale
        Average per-gene z-scores of the (log-normalised) values instead of the values, as
        ``scanpy.pp.scale`` does before PCA (without clipping): each gene counts by how unusual
        its level is in the cell, not by its raw abundance. Computed on sparse data without
        densifying it. With ``topn``: z-scores of each cell's top genes.

        The defaults of ``highly_variable``, ``idf``, ``center``, ``whiten`` and ``scale`` were
        chosen on a validation dataset that the benchmark does not report
        (``textcell.bench.cells``); GenePT-w exactly as published is ``highly_variable=False,
        idf=False, center=False, whiten=False, scale=False``.
    n_top
        Genes per cell for ``topn`` and ``sentence``.
    precision
        How the gene vectors are held while the cells are summed (in float32): ``"bfloat16"`` (the
        ``textcell`` recipe's choice: half the bytes per gene vector read, 1.4–1.6× faster for
        ``weighted`` and ``topn`` in ``benchmarks/bench_cells.py``; on CPUs with AVX512-BF16 the
        weights are rounded to bfloat16 too, two gene vectors per vdpbf16ps instruction; cell vectors
        within 1e-4 cosine of float32 ones, 0.99999 or closer on Kang's cells) or
        ``"float32"`` (``genept-w``'s, GenePT's arithmetic exactly). Each has its own fingerprint.
    model
        Text embedder for ``sentence``.
    chunk_size
        Cells per chunk for backed and in-memory matrices.
    key_added
        Key in ``obsm`` and ``uns``; ``obs['{key_added}_n_genes']`` counts the genes each cell
        used and ``obs['{key_added}_empty']`` flags cells with no covered expression (their vector
        is zero, never NaN).
    copy
        Return a modified copy instead of writing into ``adata``.
    """
    recipe = CellRecipe.get(
        recipe, method=method, normalize=normalize, highly_variable=highly_variable, idf=idf,
        center=center, whiten=whiten, scale=scale, n_top=n_top, precision=precision,
    )  # fmt: skip
    if copy and adata.isbacked:
        raise InputError("copy=True needs the data in memory; use copy=False on a backed AnnData.")
    adata = adata.copy() if copy else adata
    vectors, used, params = _embed_into(
        adata, lambda dim: np.zeros((adata.n_obs, dim), dtype=np.float32), recipe=recipe,
        genes_key=genes_key, layer=layer, use_raw=use_raw, model=model, chunk_size=chunk_size,
        key_added=key_added,
    )  # fmt: skip
    adata.obsm[key_added] = vectors
    adata.obs = adata.obs.assign(**_obs_columns(key_added, used))
    adata.uns[key_added] = {"params": params}
    return adata if copy else None


def embed_cells_to_file(
    adata: ad.AnnData,
    destination,
    *,
    recipe: CellRecipe | str = "textcell",
    genes_key: str = "textcell",
    layer: str | None = None,
    use_raw: bool = False,
    model=DEFAULT_MODEL,
    chunk_size: int = 10_000,
    key_added: str = "X_textcell",
    **fields,
) -> dict:
    """Out of core: :func:`embed_cells` for a backed AnnData, written into a copy of its file.

    ``destination`` becomes the source file plus ``obsm[key_added]``, the ``obs`` columns and
    ``uns`` entry of :func:`embed_cells`, and ``adata``'s current ``var``, ``varm`` and ``uns`` (the
    gene embeddings). Neither ``X`` nor the cell embeddings are ever held in memory: memory is
    bounded by ``chunk_size`` cells whatever the size of the file. The file appears under its name
    only once complete.

    Parameters
    ----------
    adata
        A backed AnnData (``anndata.read_h5ad(path, backed="r")``).
    destination
        The h5ad file to write.
    recipe, genes_key, layer, use_raw, model, chunk_size, key_added
        As in :func:`embed_cells`.
    fields
        Recipe fields to replace (``method``, ``idf`` ...), as in :func:`embed_cells`.

    Returns the provenance written to ``uns[key_added]['params']``.
    """
    import shutil

    import h5py

    from .._io import atomic_path

    if not adata.isbacked:
        raise InputError(
            "embed_cells_to_file needs a backed AnnData: anndata.read_h5ad(path, backed='r'); "
            "use embed_cells for data in memory."
        )
    recipe = CellRecipe.get(recipe, **fields)
    with atomic_path(Path(destination)) as tmp:
        shutil.copyfile(adata.filename, tmp)
        with h5py.File(tmp, "r+") as store:
            if key_added in store["obsm"]:
                del store["obsm"][key_added]

            def on_disk(dim: int):
                rows = max(1, min(adata.n_obs, 2**20 // (4 * dim)))
                dataset = store["obsm"].create_dataset(
                    key_added, shape=(adata.n_obs, dim), dtype="float32", chunks=(rows, dim)
                )
                dataset.attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})
                return dataset

            _, used, params = _embed_into(
                adata, on_disk, recipe=recipe, genes_key=genes_key, layer=layer, use_raw=use_raw,
                model=model, chunk_size=chunk_size, key_added=key_added,
            )  # fmt: skip
            for name, element in (
                ("obs", adata.obs.assign(**_obs_columns(key_added, used))),
                ("var", adata.var),
                ("varm", dict(adata.varm)),
                ("uns", {**adata.uns, key_added: {"params": params}}),
            ):
                del store[name]
                write_elem(store, name, element)
    return params


def _embed_into(
    adata, target_for, *, recipe: CellRecipe, genes_key, layer, use_raw, model, chunk_size, key_added
):
    """Embeds the cells chunk by chunk into ``target_for(dim)`` (anything sliceable: an array, an
    HDF5 dataset); returns that target, the genes used per cell and the provenance."""
    matrix, names = expression_source(adata, layer=layer, use_raw=use_raw)
    if use_raw and not names.equals(adata.var_names):
        raise InputError("use_raw=True needs adata.raw with the same genes as adata (their embeddings).")
    log_normalize = decide_normalization(matrix, recipe.normalize, adata.n_obs)
    applied = recipe.applied(
        has_highly_variable="highly_variable" in adata.var, log_normalize=log_normalize, sentence_model=model
    )
    method, idf, scale = applied["method"], applied["idf"], applied["scale"]
    embeddings, eligible = _gene_embeddings(adata, genes_key, applied["highly_variable"])
    if applied["whiten"] and eligible.sum() <= embeddings.shape[1]:
        logger.warning(
            "Not whitening: %d genes for %d dimensions would leave the expression values merely "
            "rotated, with nothing of the text; the gene vectors are centred instead. Use more genes "
            "(highly_variable=False) to whiten.",
            int(eligible.sum()), embeddings.shape[1],
        )  # fmt: skip
        applied["whiten"] = False
    if applied["whiten"]:
        embeddings = _whitened(embeddings, eligible)
    elif applied["center"]:
        embeddings = embeddings - embeddings[eligible].mean(axis=0)
        embeddings[~eligible] = 0
    weights = eligible.astype(np.float64)
    mean = None
    if (idf or scale) and adata.n_obs < MIN_CELLS_FOR_STATISTICS:
        raise InputError(
            f"idf and scale weigh genes by statistics over the cells, which {adata.n_obs} cells cannot give "
            f"(at least {MIN_CELLS_FOR_STATISTICS} are needed): embed these cells together with more cells, "
            "or pass idf=False, scale=False (recipe='genept-w' has neither)."
        )
    if idf or scale:
        expressing, gene_mean, sd = _gene_statistics(matrix, adata.n_obs, chunk_size, log_normalize)
        if idf:
            weights *= np.maximum(np.log(adata.n_obs / (1.0 + expressing)), 0.0)
        if scale:  # z-scores: weights w_g / σ_g on the values minus their means (see _weighted_block)
            weights = np.divide(weights, sd, out=np.zeros_like(weights), where=sd > 0)
            mean = gene_mean.astype(np.float32)
    weights = weights.astype(np.float32)
    table = _kernels.to_bfloat16(embeddings) if applied.get("precision") == "bfloat16" else embeddings

    top_n = applied["n_top"] if method == "topn" else 0
    # z-scores of weighted: the unstored zeros count too (see _weighted_block), one vector for all cells
    offset = (weights * mean) @ embeddings if mean is not None and not top_n else None
    target = None
    if method == "sentence":
        chunks = _sentences(adata, matrix, eligible, genes_key, applied["n_top"], model, chunk_size)
    elif _is_dask(matrix):
        chunks = _weighted_dask(matrix, table, weights, mean, offset, log_normalize, top_n)
    else:
        target = target_for(embeddings.shape[1])
        in_place = target if isinstance(target, np.ndarray) else None
        chunks = _weighted(
            matrix, adata.n_obs, table, weights, mean, offset, log_normalize, top_n, chunk_size,
            in_place,
        )  # fmt: skip
    used = np.zeros(adata.n_obs, dtype=np.int64)
    with progress_bar(total=adata.n_obs, desc="embedding cells", unit="cell") as bar:
        for start, vectors, chunk_used in chunks:
            target = target_for(vectors.shape[1]) if target is None else target
            norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))[:, None]
            np.divide(vectors, norms, out=vectors, where=norms > 0)
            if vectors.base is not target:
                target[start : start + len(vectors)] = vectors
            used[start : start + len(vectors)] = chunk_used
            bar.update(len(vectors))
    empty = used == 0
    if empty.all():
        raise InputError(
            f"None of the {adata.n_obs:,} cells expresses any of the {int(eligible.sum()):,} embedded "
            "genes, so every vector would be zero: check that layer=/use_raw= hold the expression "
            f"and read the coverage report in .uns[{genes_key!r}]."
        )
    if empty.any():
        logger.warning(
            "%d cells express none of the embedded genes; their vectors are zero (obs['%s_empty']).",
            int(empty.sum()),
            key_added,
        )
    gene_params = adata.uns.get(genes_key, {}).get("params", {})
    params = {
        **{k: v for k, v in gene_params.items() if k not in ("n_genes", "n_embedded", "n_missing")},
        "textcell_version": version("textcell"),
        "genes_key": genes_key,
        "layer": "raw" if use_raw else layer or "",
        **applied,
        "n_genes_used": int(eligible.sum()),
        "n_empty_cells": int(empty.sum()),
        "dim": int(target.shape[1]),
    }
    params["cell_fingerprint"] = embedding_identity(params)["id"]
    return target, used, params


def _obs_columns(key_added: str, used: np.ndarray) -> dict[str, np.ndarray]:
    return {f"{key_added}_n_genes": used, f"{key_added}_empty": used == 0}


# ---------------------------------------------------------------------------- inputs


def _gene_embeddings(
    adata: ad.AnnData, genes_key: str, highly_variable: bool
) -> tuple[np.ndarray, np.ndarray]:
    if genes_key not in adata.varm:
        raise InputError(f"Did not find .varm[{genes_key!r}]; run textcell.tl.embed_genes first.")
    embeddings = np.ascontiguousarray(adata.varm[genes_key], dtype=np.float32)
    if embeddings.ndim != 2 or embeddings.shape[0] != adata.n_vars:
        raise InputError(f".varm[{genes_key!r}] has shape {embeddings.shape}; expected ({adata.n_vars}, d).")
    column = f"{genes_key}_has_embedding"
    eligible = adata.var[column].to_numpy(bool) if column in adata.var else np.abs(embeddings).sum(axis=1) > 0
    if highly_variable:
        if "highly_variable" not in adata.var:
            raise InputError(
                "highly_variable=True needs var['highly_variable']; run "
                "scanpy.pp.highly_variable_genes first."
            )
        eligible = eligible & adata.var["highly_variable"].to_numpy(bool)
    if not eligible.any():
        raise InputError(
            "No gene has an embedding (and passes the gene filter); check the coverage "
            f"report in .uns[{genes_key!r}]."
        )
    return embeddings, eligible


def _gene_statistics(matrix, n_obs: int, chunk_size: int, log_normalize: bool):
    """Per gene: the cells expressing it, and the mean and standard deviation (ddof 1, as scanpy's
    scale) of its values, log-normalised if ``log_normalize``; one pass over the matrix."""
    n_genes = matrix.shape[1]
    expressing, total, squares = np.zeros(n_genes), np.zeros(n_genes), np.zeros(n_genes)
    for _, csr in row_chunks(matrix, n_obs, chunk_size):
        values = entry_values(csr, log_normalize)
        expressing += np.bincount(csr.indices, minlength=n_genes)
        total += np.bincount(csr.indices, weights=values, minlength=n_genes)
        squares += np.bincount(csr.indices, weights=values.astype(np.float64) ** 2, minlength=n_genes)
    mean = total / n_obs
    variance = np.maximum(squares - n_obs * mean**2, 0.0) / max(n_obs - 1, 1)
    return expressing, mean, np.sqrt(variance)


def _whitened(embeddings: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """The eligible genes' embeddings PCA-whitened (centred, principal axes, unit variance; axes
    with variance below 1e-8 of the largest dropped); zero rows for the other genes."""
    used = embeddings[eligible].astype(np.float64)
    centred = used - used.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    variance = singular**2 / len(used)
    keep = variance > 1e-8 * variance.max()
    if not keep.any():
        raise InputError("whiten=True needs at least two distinct gene embeddings.")
    whitened = np.zeros((embeddings.shape[0], int(keep.sum())), dtype=np.float32)
    whitened[eligible] = centred @ axes[keep].T / np.sqrt(variance[keep])
    return whitened


# ---------------------------------------------------------------------------- methods


def _weighted(matrix, n_obs, table, weights, mean, offset, log_normalize, top_n, chunk_size, target=None):
    """(start, vectors, genes used) per chunk. The vectors are rows of ``target`` (a zeroed array)
    when one is given, else they live in one buffer reused chunk after chunk. ``table``: the
    embeddings as the kernel reads them (float32, or bfloat16 bits)."""
    rows = min(chunk_size, n_obs)
    buffer = None if target is not None else np.zeros((rows, table.shape[1]), np.float32)
    values = np.empty(0, dtype=np.float32)
    for start, csr in row_chunks(matrix, n_obs, chunk_size):
        if target is not None:
            out = target[start : start + csr.shape[0]]
        else:
            out = buffer[: csr.shape[0]]
            out.fill(0)
        values = values if values.size >= csr.nnz else np.empty(csr.nnz, dtype=np.float32)
        used = _weighted_block(
            csr, table, weights, mean, offset, log_normalize, top_n, out, values[: csr.nnz]
        )
        yield start, out, used


def _weighted_block(csr, table, weights, mean, offset, log_normalize, top_n, out, values=None) -> np.ndarray:
    """Adds the block's weighted sums into ``out`` (zeros, one row per cell); returns genes used.

    ``table``: the gene embeddings as the kernel reads them (float32, or bfloat16 bits).

    With per-gene means ``mean`` (``scale``), the sums are over values minus their means. For
    ``topn`` those are the kept entries, shifted one by one. For ``weighted`` every gene counts,
    the unstored zeros too: Σ_g w_g (x_g − μ_g) E_g = Σ_stored w_g x_g E_g − Σ_g w_g μ_g E_g, a
    vector (``offset``, from the float32 embeddings) subtracted from every cell that uses any
    gene. ``values``: float32 scratch space for the block's entries.
    """
    values = entry_values(csr, log_normalize, values)
    used = np.zeros(csr.shape[0], dtype=np.int64)
    if top_n:
        _kernels.keep_top(csr.indptr, csr.indices, values, weights, top_n, used)
    if mean is not None and top_n:
        kept = values > 0
        values[kept] -= mean[csr.indices[kept]]
    counted = used[:0] if top_n else used  # topn's were counted as they were kept
    _kernels.weighted_sum(csr.indptr, csr.indices, values, weights, table, out, counted)
    if offset is not None:
        out[used > 0] -= offset
    return used


def _is_dask(matrix) -> bool:
    return type(matrix).__module__.startswith("dask.")


def _weighted_dask(matrix, table, weights, mean, offset, log_normalize, top_n):
    """Block by block on Dask (local or distributed); rows of one block stay together."""
    matrix = matrix.rechunk({1: -1})
    dim = table.shape[1]

    def block(x):
        out = np.zeros((x.shape[0], dim), dtype=np.float32)
        used = _weighted_block(_checked(x), table, weights, mean, offset, log_normalize, top_n, out)
        return np.hstack([out, used[:, None].astype(np.float32)])

    result = matrix.map_blocks(
        block,
        chunks=(matrix.chunks[0], (dim + 1,)),
        dtype=np.float32,
        meta=np.empty((0, dim + 1), np.float32),
    ).compute()
    yield 0, result[:, :dim], result[:, dim].astype(np.int64)


def _checked(block) -> sparse.csr_matrix:
    return next(row_chunks(block, block.shape[0], max(block.shape[0], 1)))[1]


def _sentences(adata, matrix, eligible, genes_key, n_top, model, chunk_size):
    """(start, vectors, genes used) per chunk: sentences built from CSR rows, embedded with the cache."""
    from ..embed.base import get_embedder
    from ..embed.texts import embed_texts

    symbols_column = f"{genes_key}_symbol"
    symbols = (
        adata.var[symbols_column].to_numpy(str)
        if symbols_column in adata.var
        else adata.var_names.to_numpy(str)
    )
    eligible = eligible & (symbols != "")
    embedder = get_embedder(model)
    for start, csr in row_chunks(matrix, adata.n_obs, chunk_size):
        top = np.full((csr.shape[0], n_top), -1, dtype=np.int64)
        _kernels.top_genes(csr.indptr, csr.indices, csr.data, eligible, n_top, top)
        used = (top >= 0).sum(axis=1)
        vectors = embed_texts(embedder, _kernels.sentences(top, symbols))
        vectors[used == 0] = 0
        yield start, vectors, used
