"""tl.scgpt_embed: scGPT cell embeddings (an official or textcell-trained checkpoint) into ``obsm``."""

from __future__ import annotations

import logging
from importlib.metadata import version

import anndata as ad
import numpy as np

from .._expression import expression_source, gene_totals, row_chunks
from ..errors import InputError
from ..genes.ids import GeneResolver

logger = logging.getLogger("textcell")


def scgpt_embed(
    adata: ad.AnnData,
    *,
    checkpoint,
    layer: str | None = None,
    use_raw: bool = False,
    highly_variable: bool = False,
    match: str = "resolver",
    species: str = "auto",
    max_length: int | None = None,
    batch_size: int = 64,
    max_tokens: int = 32_768,
    chunk_size: int = 2_048,
    dtype: str = "float32",
    device: str = "cpu",
    threads: int | None = None,
    seed: int = 0,
    resolver: GeneResolver | None = None,
    key_added: str = "X_scgpt",
    copy: bool = False,
) -> ad.AnnData | None:
    """Embed every cell with scGPT, as scGPT's ``embed_data`` does, into ``obsm[key_added]``.

    The recipe (:mod:`textcell.models.scgpt.tokenize`): the cell's non-zero genes that the
    vocabulary holds, their values binned per cell into ``n_bins - 1`` quantile bins, ``<cls>``
    first, at most ``max_length`` tokens (a random subset beyond); the embedding is the ``<cls>``
    output, L2-normalised.

    Parameters
    ----------
    adata
        Raw counts or log-normalised values (binning is per cell and by rank, so both give the
        same tokens); dense, sparse, backed or Dask. Scaled (negative) values are refused.
    checkpoint
        An scGPT checkpoint folder (``best_model.pt``, ``vocab.json``, ``args.json``) or a loaded
        :class:`~textcell.models.scgpt.ScGPT`.
    layer, use_raw
        Expression layer instead of ``X``, or ``adata.raw``.
    highly_variable
        Use only genes with ``var['highly_variable']`` (scGPT's tutorials often subset to HVGs
        first); by default every vocabulary gene is used, as ``embed_data`` does.
    match
        ``"resolver"``: genes whose name is a vocabulary token, then those that resolve to the same
        NCBI gene as a token (renamed symbols, synonyms, Ensembl IDs, mouse orthologs);
        ``"exact"``: scGPT's own rule, names only.
    species
        For the resolver: ``"human"``, ``"mouse"`` or ``"auto"``.
    max_length
        Tokens per cell, ``<cls>`` included (default: the checkpoint's ``max_seq_len``, 1,200 for
        the official ones).
    batch_size, max_tokens
        At most this many cells and padded tokens per forward pass (cells are grouped by length).
    chunk_size
        Rows read and tokenized at a time.
    dtype
        ``"float32"``, or ``"bfloat16"`` (matrix products in bfloat16: faster where the CPU has
        native bfloat16, e.g. AVX512-BF16 or AMX, and on GPUs; close to float32, not equal).
    device
        ``"cpu"`` or a torch device such as ``"cuda"``.
    threads
        torch intra-op threads (default: torch's setting, one per physical core).
    seed
        Seeds the per-cell random choices of the recipe (ties between bins, the subset of a long
        cell): cell ``i`` draws from ``(seed, i)``.
    resolver
        A :class:`~textcell.genes.GeneResolver` (default: the bundled human corpus).
    key_added
        Key in ``obsm`` and ``uns``; ``obs['{key_added}_n_tokens']`` counts each cell's tokens.
    copy
        Return a modified copy instead of writing into ``adata``.
    """
    from .._torch import torch_threads
    from ..models.scgpt import ScGPT, load_checkpoint, map_genes
    from ..models.scgpt.embed import Batching, embed_rows
    from ..models.scgpt.tokenize import Recipe

    if copy and adata.isbacked:
        raise InputError("copy=True needs the data in memory; use copy=False on a backed AnnData.")
    scgpt = checkpoint if isinstance(checkpoint, ScGPT) else load_checkpoint(checkpoint, device=device)
    config = scgpt.config
    max_length = config.max_seq_len if max_length is None else int(max_length)
    if max_length < 2:
        raise InputError(f"max_length must be at least 2 (<cls> and one gene), not {max_length}.")
    batching = Batching(batch_size=batch_size, max_tokens=max_tokens, chunk_size=chunk_size)
    adata = adata.copy() if copy else adata

    matrix, names = expression_source(adata, layer=layer, use_raw=use_raw)
    mapping = map_genes(names, scgpt.vocab, match=match, resolver=resolver, species=species)
    columns = mapping.matched
    if highly_variable:
        if "highly_variable" not in adata.var:
            raise InputError(
                "highly_variable=True needs var['highly_variable']; "
                "run scanpy.pp.highly_variable_genes first."
            )
        hvg = adata.var["highly_variable"].reindex(names, fill_value=False)
        columns = columns & hvg.to_numpy(dtype=bool)
    if not columns.any():
        raise InputError(
            f"None of the {len(names):,} genes is in the checkpoint's vocabulary "
            f"({len(scgpt.vocab):,} tokens); var_names should be gene symbols or Ensembl IDs."
        )
    totals = gene_totals(adata, layer) if not use_raw else None
    summary = mapping.summary(len(scgpt.vocab), names=names, totals=totals)
    logger.info("scGPT vocabulary: %s of %s genes matched", summary["n_matched"], summary["n_genes"])
    selected = np.flatnonzero(columns)
    recipe = Recipe(
        cls_id=scgpt.cls_id, pad_id=scgpt.pad_id, pad_value=config.pad_value,
        n_bins=config.n_bins, max_length=max_length, seed=seed,
    )  # fmt: skip
    chunks = ((start, csr[:, selected]) for start, csr in row_chunks(matrix, adata.n_obs, chunk_size))
    with torch_threads(threads):
        vectors, n_tokens = embed_rows(
            scgpt, chunks, mapping.ids[selected], n_obs=adata.n_obs, recipe=recipe,
            batching=batching, dtype=dtype,
        )  # fmt: skip
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    adata.obsm[key_added] = vectors / np.where(norms > 0, norms, 1.0)
    adata.obs[f"{key_added}_n_tokens"] = n_tokens
    adata.uns[key_added] = {
        "params": {
            **scgpt.provenance(),
            "textcell_version": version("textcell"),
            "recipe": recipe.to_dict(),
            "layer": layer or ("raw" if use_raw else "X"),
            "highly_variable": highly_variable,
            "match": match,
            "n_genes_used": len(selected),
            "dtype": dtype,
            "normalized": "L2, as scGPT's embed_data",
        },
        "genes": summary,
    }
    return adata if copy else None
