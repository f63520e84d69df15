"""tl.gene_programs: gene programs from the similarity of gene text embeddings (GenePT), into ``var``.

Genes are nodes; each gene is joined to its ``n_neighbors`` most similar genes (``method="knn"``)
or to every gene more similar than ``threshold`` (``method="threshold"``, GenePT's graph); Leiden
(leidenalg, RB configuration model) splits the graph into programs. Programs with fewer than
``min_size`` genes are dropped (their genes are left unassigned).

Built-in validation: each program is tested for GO terms of the bundled corpus (hypergeometric,
Benjamini–Hochberg; :mod:`textcell.genes.enrichment`) and so are **co-expression programs** of the
same genes (Leiden on the gene–gene correlation graph, same graph rule, at the resolution giving
the same number of programs), the baseline a text-derived program has to beat.

GO terms that were part of the embedded texts cannot validate anything (the check would read the
text back). The ``card`` and ``full`` views contain GO terms; ``summary`` contains them for genes
without a RefSeq summary (it falls back to the card). Validation therefore runs only on texts
without GO: ``name``, or ``summary`` with the genes that fell back to the card left out of the tests.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib.metadata import version

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from .._expression import log_expression
from ..errors import InputError
from ..genes.corpus import GeneCorpus
from ..genes.enrichment import enrichment, go_annotations

logger = logging.getLogger("textcell")
METHODS = ("knn", "threshold")
GO_FREE_VIEWS = ("name", "summary")
_BLOCK = 2048


# ---------------------------------------------------------------------------- matrix functions


def cosine_similarity_blocks(vectors: np.ndarray, center: bool = True):
    """(start, block of similarities) of the rows of ``vectors`` to all rows, in row blocks."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if center:
        vectors = vectors - vectors.mean(axis=0)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    for start in range(0, len(unit), _BLOCK):
        yield start, unit[start : start + _BLOCK] @ unit.T


def correlation_blocks(expression):
    """(start, block) of the Pearson correlations between the columns (genes) of ``expression``
    (cells × genes, dense or sparse), from the gene–gene covariance (never densifying the cells)."""
    n = expression.shape[0]
    if n < 3:
        raise InputError("Co-expression needs at least three cells.")
    if sparse.issparse(expression):
        expression = sparse.csc_matrix(expression, dtype=np.float64)
        gram = np.asarray((expression.T @ expression).todense())
        means = np.asarray(expression.mean(axis=0)).ravel()
    else:
        expression = np.asarray(expression, dtype=np.float64)
        gram = expression.T @ expression
        means = expression.mean(axis=0)
    covariance = (gram - n * np.outer(means, means)) / (n - 1)
    sd = np.sqrt(np.clip(np.diag(covariance), 0, None))
    scale = np.divide(1.0, sd, out=np.zeros_like(sd), where=sd > 0)
    correlation = (covariance * scale[:, None] * scale[None, :]).astype(np.float32)
    for start in range(0, len(correlation), _BLOCK):
        yield start, correlation[start : start + _BLOCK]


def similarity_graph(blocks, n: int, *, method: str = "knn", n_neighbors: int = 10, threshold=None):
    """An undirected weighted igraph graph over ``n`` genes from blocks of a similarity matrix.

    ``knn``: each gene to its ``n_neighbors`` most similar genes (union of both directions).
    ``threshold``: every pair above ``threshold``; ``None`` picks the similarity at which genes
    have ``n_neighbors`` neighbours on average (a quantile of all pairs). Weights are the
    similarities (at least 1e-6). Returns the graph and the threshold used (``None`` for knn).
    """
    import igraph

    if method not in METHODS:
        raise InputError(f"Unknown method {method!r}; use one of {', '.join(METHODS)}.")
    if n < 2:
        raise InputError("A gene graph needs at least two genes.")
    if method == "threshold" and threshold is None:
        blocks = list(blocks)
        off_diagonal = []
        for start, block in blocks:
            keep = np.ones(block.shape, dtype=bool)
            keep[np.arange(len(block)), start + np.arange(len(block))] = False
            off_diagonal.append(block[keep])
        threshold = float(np.quantile(np.concatenate(off_diagonal), 1 - min(1.0, n_neighbors / (n - 1))))
    sources, targets, weights = [], [], []
    k = min(n_neighbors, n - 1)
    for start, block in blocks:
        block = np.array(block, dtype=np.float32)
        rows = np.arange(len(block))
        block[rows, start + rows] = -np.inf  # no self-loops
        if method == "knn":
            columns = np.argpartition(-block, k - 1, axis=1)[:, :k]
            row_index = np.repeat(rows, k)
            columns = columns.ravel()
        else:
            row_index, columns = np.nonzero(block > threshold)
        sources.append(start + row_index)
        targets.append(columns)
        weights.append(block[row_index, columns])
    sources, targets = np.concatenate(sources), np.concatenate(targets)
    weights = np.maximum(np.concatenate(weights).astype(np.float64), 1e-6)
    low, high = np.minimum(sources, targets), np.maximum(sources, targets)
    edges = pd.DataFrame({"a": low, "b": high, "w": weights}).groupby(["a", "b"], sort=True)["w"].max()
    graph = igraph.Graph(n=n, edges=list(edges.index), directed=False)
    graph.es["weight"] = edges.to_numpy().tolist()
    return graph, (None if method == "knn" else float(threshold))


def leiden(graph, *, resolution: float = 1.0, seed: int = 0, min_size: int = 5) -> np.ndarray:
    """Programs of a gene graph: 0, 1, ... by decreasing size; -1 for genes in programs smaller
    than ``min_size``."""
    import leidenalg

    partition = leidenalg.find_partition(
        graph,
        leidenalg.RBConfigurationVertexPartition,
        weights="weight",
        resolution_parameter=resolution,
        seed=seed,
        n_iterations=-1,
    )
    membership = np.asarray(partition.membership)
    ids, sizes = np.unique(membership, return_counts=True)
    order = [c for c, s in sorted(zip(ids, sizes, strict=True), key=lambda t: (-t[1], t[0])) if s >= min_size]
    relabel = np.full(membership.max() + 1, -1)
    relabel[order] = np.arange(len(order))
    return relabel[membership]


def n_programs(labels: np.ndarray) -> int:
    return int(labels.max() + 1) if labels.size and labels.max() >= 0 else 0


def leiden_matched(
    graph, target: int, *, seed: int = 0, min_size: int = 5, max_steps: int = 30
) -> tuple[np.ndarray, float]:
    """Leiden at the resolution (bisection in log space) giving ``target`` programs, or the
    closest count found; returns the labels and the resolution."""
    low, high, resolution = 1e-3, 1e3, 1.0
    best = None
    for _ in range(max_steps):
        labels = leiden(graph, resolution=resolution, seed=seed, min_size=min_size)
        found = n_programs(labels)
        if best is None or abs(found - target) < abs(n_programs(best[0]) - target):
            best = (labels, resolution)
        if found == target:
            break
        low, high = (resolution, high) if found < target else (low, resolution)
        resolution = float(np.sqrt(low * high))
    return best


# ---------------------------------------------------------------------------- the tool


def gene_programs(
    adata: ad.AnnData,
    *,
    genes: str | Sequence[str] = "highly_variable",
    genes_key: str = "textcell",
    method: str = "knn",
    n_neighbors: int = 10,
    threshold: float | None = None,
    center: bool = True,
    resolution: float = 1.0,
    min_size: int = 5,
    groupby: str | None = None,
    layer: str | None = None,
    validate: bool | None = None,
    corpus: GeneCorpus | None = None,
    summaries=None,
    alpha: float = 0.05,
    seed: int = 0,
    key_added: str = "textcell_programs",
    copy: bool = False,
) -> ad.AnnData | None:
    """Gene programs: Leiden on the similarity graph of the genes' text embeddings.

    Parameters
    ----------
    adata
        Annotated data with gene embeddings in ``varm[genes_key]`` (:func:`textcell.tl.embed_genes`).
    genes
        ``"highly_variable"`` (``var['highly_variable']``), ``"all"``, or a list of ``var_names``.
        Genes without an embedding are left out.
    genes_key
        Key of the gene embeddings in ``varm`` (and of their provenance in ``uns``).
    method
        ``"knn"``: each gene joined to its ``n_neighbors`` most similar genes; ``"threshold"``:
        every pair with cosine similarity above ``threshold`` (GenePT).
    n_neighbors
        Neighbours per gene (``knn``), or the mean degree that sets a ``None`` threshold.
    threshold
        Cosine similarity cut-off for ``method="threshold"``.
    center
        Subtract the mean gene embedding before taking cosines (the direction all gene texts share).
    resolution
        Leiden resolution (higher: more, smaller programs).
    min_size
        Smallest program kept; genes of smaller ones are unassigned.
    groupby
        ``obs`` column: mean program score per group into ``uns[key_added]['activity']`` (the heat
        map of :func:`textcell.pl.program_heatmap`).
    layer
        Expression for the scores and the co-expression baseline (counts are log-normalised first).
    validate
        GO enrichment of the programs and of co-expression programs. ``None``: when the gene
        texts exclude GO (view ``name`` or ``summary``); ``True``: required (an error for views
        with GO); ``False``: skip.
    corpus, summaries
        Corpus (and RefSeq summaries file) that the embeddings were made from; needed to find
        which genes' ``summary`` text fell back to the card. The bundled corpus by default.
    alpha
        Benjamini–Hochberg false discovery rate of the enrichment (within each program).
    seed
        Leiden seed (and the control genes of the scores).
    key_added
        ``var[key_added]`` (program per gene, categorical), ``obsm[key_added + '_scores']`` (cells ×
        programs, scanpy ``score_genes``) and ``uns[key_added]``: ``params``, ``programs`` (name
        → genes), ``activity`` and ``validation``.
    copy
        Return a modified copy instead of writing into ``adata``.
    """
    if min_size < 2:
        raise InputError("min_size must be at least 2.")
    if groupby is not None and groupby not in adata.obs:
        raise InputError(f"groupby={groupby!r} is not an obs column; columns: {list(adata.obs.columns)}.")
    adata = adata.copy() if copy else adata
    selected = _selected_genes(adata, genes, genes_key)
    gene_params = dict(adata.uns.get(genes_key, {}).get("params", {}))
    vectors = np.asarray(adata.varm[genes_key])[selected]
    graph, threshold_used = similarity_graph(
        cosine_similarity_blocks(vectors, center=center), len(selected),
        method=method, n_neighbors=n_neighbors, threshold=threshold,
    )  # fmt: skip
    labels = leiden(graph, resolution=resolution, seed=seed, min_size=min_size)
    names = [f"P{i + 1}" for i in range(n_programs(labels))]
    if not names:
        raise InputError(
            f"No program has {min_size} or more genes; lower min_size or the resolution, "
            "or select more genes."
        )
    var_names = adata.var_names.to_numpy()
    column = np.full(adata.n_vars, None, dtype=object)
    column[selected[labels >= 0]] = [names[i] for i in labels[labels >= 0]]
    adata.var[key_added] = pd.Categorical(column, categories=names)
    programs = {name: var_names[selected[labels == i]].astype(str) for i, name in enumerate(names)}

    expression, _, _ = log_expression(adata, layer=layer)
    scores = _scores(adata, expression, programs, seed)
    adata.obsm[f"{key_added}_scores"] = scores
    result = {
        "params": {
            "textcell_version": version("textcell"),
            "genes_key": genes_key,
            **{f"gene_{k}": v for k, v in gene_params.items() if k in ("model", "fingerprint", "view")},
            "corpus_version": str(gene_params.get("corpus_version", "")),
            "genes": genes if isinstance(genes, str) else "list",
            "n_genes": len(selected),
            "n_assigned": int((labels >= 0).sum()),
            "method": method,
            "n_neighbors": n_neighbors,
            "threshold": float("nan") if threshold_used is None else threshold_used,
            "center": center,
            "resolution": resolution,
            "min_size": min_size,
            "seed": seed,
            "layer": layer or "",
            "groupby": groupby or "",
        },
        "programs": programs,
        "names": np.array(names),
    }
    if groupby is not None:
        result["activity"] = _activity(adata, scores, names, groupby)
    go_text = _go_in_text(gene_params, validate)
    if go_text is not False:
        result["validation"] = _validate(
            adata, selected, labels, names, expression, go_text, corpus, summaries, gene_params, genes_key,
            n_neighbors=n_neighbors, method=method, min_size=min_size, alpha=alpha, seed=seed,
        )  # fmt: skip
    adata.uns[key_added] = result
    return adata if copy else None


def _selected_genes(adata: ad.AnnData, genes, genes_key: str) -> np.ndarray:
    if genes_key not in adata.varm:
        raise InputError(f"Did not find .varm[{genes_key!r}]; run textcell.tl.embed_genes first.")
    vectors = np.asarray(adata.varm[genes_key])
    column = f"{genes_key}_has_embedding"
    has = adata.var[column].to_numpy(bool) if column in adata.var else np.abs(vectors).sum(axis=1) > 0
    if isinstance(genes, str):
        if genes == "highly_variable":
            if "highly_variable" not in adata.var:
                raise InputError(
                    "genes='highly_variable' needs var['highly_variable']; run "
                    "scanpy.pp.highly_variable_genes first, or pass genes='all' or a list of genes."
                )
            mask = adata.var["highly_variable"].to_numpy(bool)
        elif genes == "all":
            mask = np.ones(adata.n_vars, dtype=bool)
        else:
            raise InputError(f"genes={genes!r}: use 'highly_variable', 'all' or a list of var_names.")
    else:
        wanted = pd.Index(list(genes))
        missing = wanted.difference(adata.var_names)
        if len(missing):
            raise InputError(f"{len(missing)} genes are not in var_names, e.g. {list(missing[:5])}.")
        mask = adata.var_names.isin(wanted)
    selected = np.flatnonzero(mask & has)
    if len(selected) < 4:
        raise InputError(
            f"Only {len(selected)} of the chosen genes have an embedding; check "
            f".uns[{genes_key!r}]['coverage']."
        )
    return selected


def _scores(adata, expression, programs: dict, seed: int) -> np.ndarray:
    """scanpy's ``score_genes`` per program (mean expression minus expression-matched controls)."""
    import scanpy as sc

    work = ad.AnnData(
        expression, obs=pd.DataFrame(index=adata.obs_names), var=pd.DataFrame(index=adata.var_names)
    )
    scores = np.zeros((adata.n_obs, len(programs)), dtype=np.float32)
    for j, genes in enumerate(programs.values()):
        sc.tl.score_genes(work, list(genes), random_state=seed, score_name="_score", ctrl_size=50)
        scores[:, j] = work.obs["_score"].to_numpy(np.float32)
    return scores


def _activity(adata, scores: np.ndarray, names: list[str], groupby: str) -> dict:
    if groupby not in adata.obs:
        raise InputError(f"groupby={groupby!r} is not an obs column; columns: {list(adata.obs)}.")
    groups = adata.obs[groupby].astype(str).to_numpy()
    categories = np.unique(groups)
    means = np.stack([scores[groups == g].mean(axis=0) for g in categories], axis=1)
    top = categories[np.argmax(means, axis=1)]
    return {
        "groupby": groupby,
        "groups": categories.astype(str),
        "programs": np.array(names),
        "mean_score": means.astype(np.float32),  # programs × groups
        "top_group": top.astype(str),
    }


def _go_in_text(gene_params: dict, validate: bool | None):
    """False (skip), or the view name of GO-free texts to validate."""
    view = str(gene_params.get("view", "")).partition("@")[0]
    if validate is False:
        return False
    if view in GO_FREE_VIEWS:
        return view
    reason = (
        f"the gene texts (view {view or 'unknown'!r}) contain GO terms, so GO enrichment would only "
        "read the texts back; embed with view='name' or view='summary' (with summaries=...) to validate"
    )
    if validate:
        raise InputError(f"Cannot validate programs against GO: {reason}.")
    logger.info("Skipping GO validation: %s.", reason)
    return False


def _validate(
    adata, selected, labels, names, expression, view, corpus, summaries, gene_params, genes_key,
    *, n_neighbors, method, min_size, alpha, seed,
) -> dict:  # fmt: skip
    corpus = corpus or GeneCorpus.load()
    if summaries is not None:
        corpus = corpus.with_summaries(summaries)
    recorded = str(gene_params.get("corpus_version", ""))
    if recorded and recorded != corpus.version:
        raise InputError(
            f"The gene embeddings were made from corpus {recorded}, not {corpus.version}; pass the "
            "corpus (and summaries=) used in textcell.tl.embed_genes."
        )
    entrez_column = f"{genes_key}_entrez"
    if entrez_column not in adata.var:
        raise InputError(
            f"No var[{entrez_column!r}]; run textcell.tl.embed_genes(key_added={genes_key!r}) first."
        )
    entrez = adata.var[entrez_column].astype(str).to_numpy()[selected]
    go_free = np.array([bool(e) and (view == "name" or e in corpus.summaries) for e in entrez])
    universe = [e for e, ok in zip(entrez, go_free, strict=True) if ok]
    if len(universe) < 2 * min_size:
        raise InputError(
            f"Only {len(universe)} genes have texts without GO terms; with view='summary' attach "
            "RefSeq summaries (summaries=...), or use view='name'."
        )
    annotations = go_annotations(corpus, universe)
    symbols = dict(zip(entrez, adata.var_names[selected].astype(str), strict=True))

    def test(program_labels, program_names):
        sets = {name: entrez[(program_labels == i) & go_free] for i, name in enumerate(program_names)}
        return enrichment(sets, universe=universe, annotations=annotations, symbols=symbols, alpha=alpha)

    text_table = test(labels, names)
    blocks = correlation_blocks(expression[:, selected])
    coexpression_graph, _ = similarity_graph(blocks, len(selected), method=method, n_neighbors=n_neighbors)
    baseline_labels, baseline_resolution = leiden_matched(
        coexpression_graph, len(names), seed=seed, min_size=min_size
    )
    baseline_names = [f"C{i + 1}" for i in range(n_programs(baseline_labels))]
    baseline_table = test(baseline_labels, baseline_names)
    var_names = adata.var_names.to_numpy()
    return {
        "view": view,
        "n_universe": len(universe),
        "n_go_in_text": int((~go_free).sum()),
        "alpha": alpha,
        "text": {
            "n_programs": len(names),
            "n_enriched": int(text_table["set"].nunique()),
            "enrichment": text_table,
        },
        "coexpression": {
            "n_programs": len(baseline_names),
            "n_enriched": int(baseline_table["set"].nunique()),
            "resolution": baseline_resolution,
            "enrichment": baseline_table,
            "programs": {
                name: var_names[selected[baseline_labels == i]].astype(str)
                for i, name in enumerate(baseline_names)
            },
        },
    }
