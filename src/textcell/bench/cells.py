"""The cell-level benchmark: textcell's cell embeddings against real baselines, with their spread.

Every embedding goes through the same metric code (:mod:`.metrics`):

- ``PCA``: scanpy's standard pipeline — counts normalised to 1e4 and log1p'd, highly variable
  genes (``flavor="seurat"``, at most 2,000 and at most half the genes), scaled (max 10), 50 PCs.
- ``GenePT-w (published recipe)``: the expression-weighted average of every gene's text vector,
  as GenePT published it (no gene selection, weighting, centring or scaling), with textcell's
  default text model.
- ``textcell``: :func:`textcell.tl.embed_cells` (GenePT-w, ``method="weighted"``) with the
  configuration chosen on the validation protocol below — the defaults of ``embed_cells`` and
  ``embed_genes`` are set to it (a test checks them against the committed results).
- ``random genes``: the same configuration with a random vector per gene (the control a text
  embedding must beat: any fixed set of gene vectors averages expression into some projection).

The gene vectors are textcell's default (:mod:`textcell._defaults`, chosen by the knowledge
benchmark), on its default view; the random control gets a vector for the same genes.

**Disjoint gene panels** (:mod:`.panels`): on datasets with batches, reference and held-out cells
are embedded from two disjoint halves of the genes, so only knowledge in the gene vectors can
carry the labels across; with the same-panel result and random genes beside it, over
``PANEL_SEEDS`` splits.

**Validation protocol.** The configuration (text model, HVG restriction, idf weighting, centring
or whitening of the gene vectors, z-scored values) is chosen by the mean k-means ARI over 10 seeds
on a dataset that is *not* reported: Kang et al.'s IFN-β stimulation data
(``kang2018_ctrl_vs_ifnb.h5ad``, 1,556 cells, 5 cell types, control and stimulated cells
together). :func:`validation_sweep` runs the whole grid and keeps it in the results. The text
model is not swept here any more: the knowledge benchmark chooses it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from .._defaults import DEFAULT_MODEL, DEFAULT_VIEW
from .._expression import log_expression
from .._progress import progress, timed
from ..datasets import pbmc68k_reduced, shared_file
from ..errors import InputError
from ..recipe import PRESETS, CellRecipe
from . import metrics
from .stats import summarize

logger = logging.getLogger("textcell")

SEEDS = range(10)
N_PCS = 50


@dataclass(frozen=True)
class CellDataset:
    """A labelled dataset: ``load()`` gives counts or log-normalised values in ``X``."""

    name: str
    load: Callable[[], ad.AnnData]
    label: str
    batch: str | None = None


def _shared(relative: str) -> Callable[[], ad.AnnData]:
    return lambda: ad.read_h5ad(shared_file(relative))


def _pbmc68k() -> ad.AnnData:
    adata = pbmc68k_reduced()
    return ad.AnnData(
        X=adata.raw.X, obs=adata.obs[["bulk_labels"]], var=pd.DataFrame(index=adata.raw.var_names)
    )


DATASETS = {
    "kang_pbmc": CellDataset("kang_pbmc", _shared("cells/kang2018_pbmc.h5ad"), "cell_type", "donor"),
    "pbmc_3tech": CellDataset("pbmc_3tech", _shared("cells/pbmc_3tech.h5ad"), "celltype", "tech"),
    "pbmc68k_reduced": CellDataset("pbmc68k_reduced", _pbmc68k, "bulk_labels"),
}
VALIDATION = CellDataset("kang_ifnb (validation)", _shared("cells/kang2018_ctrl_vs_ifnb.h5ad"), "cell_type")

CONFIG_GRID = {
    "model": (DEFAULT_MODEL,),
    "highly_variable": (False, True),
    "idf": (False, True),
    "center": (False, True),
    "whiten": (False, True),
    "scale": (False, True),
}
RECIPE_FIELDS = tuple(name for name in CONFIG_GRID if name != "model")


def recipe_config(recipe: str, model=DEFAULT_MODEL) -> dict:
    """A benchmark configuration (text model and recipe fields) from a recipe preset; the prepared
    data always has ``var['highly_variable']``, so ``None`` (use it when present) means ``True``."""
    fields = PRESETS[recipe].to_dict()
    return {
        "model": model,
        **{name: True if fields[name] is None else fields[name] for name in RECIPE_FIELDS},
    }


PUBLISHED = recipe_config("genept-w")


def config_label(config: dict) -> str:
    options = [name for name in ("highly_variable", "idf", "center", "whiten", "scale") if config.get(name)]
    return config["model"] + "".join(f", {o}" for o in options)


def prepare(adata: ad.AnnData) -> ad.AnnData:
    """Log-normalised values in ``layers['lognorm']`` and ``var['highly_variable']`` (scanpy)."""
    import scanpy as sc

    adata = adata.copy()
    adata.X = sparse.csr_matrix(adata.X, dtype=np.float32)
    adata.obs_names_make_unique()
    adata.var_names_make_unique()
    lognorm = ad.AnnData(log_expression(adata)[0], var=pd.DataFrame(index=adata.var_names))
    adata.layers["lognorm"] = lognorm.X
    sc.pp.highly_variable_genes(lognorm, flavor="seurat", n_top_genes=min(2000, adata.n_vars // 2))
    adata.var["highly_variable"] = lognorm.var["highly_variable"]
    return adata


def scaled_hvgs(adata: ad.AnnData) -> ad.AnnData:
    """The prepared data's log-normalised HVGs, scaled as scanpy's standard pipeline does (max 10)."""
    import scanpy as sc

    hvg = ad.AnnData(adata.layers["lognorm"][:, adata.var["highly_variable"].to_numpy()].toarray())
    sc.pp.scale(hvg, max_value=10)
    return hvg


def pca_embedding(adata: ad.AnnData) -> np.ndarray:
    """scanpy's standard PCA on the prepared data's log-normalised HVGs."""
    import scanpy as sc

    hvg = scaled_hvgs(adata)
    sc.pp.pca(hvg, n_comps=min(N_PCS, min(hvg.shape) - 1), random_state=0)
    return hvg.obsm["X_pca"]


def textcell_embedding(adata: ad.AnnData, config: dict, *, gene_model=None) -> np.ndarray:
    """Cell embedding of the prepared data under ``config``; ``gene_model`` overrides its text model
    for the gene vectors (the random control)."""
    return _cells_from(_with_gene_vectors(adata, gene_model or config["model"]), config)


def _with_gene_vectors(adata: ad.AnnData, model) -> ad.AnnData:
    """The prepared data's counts with the default-view vectors of ``model`` in ``varm``."""
    from ..tl import embed_genes

    work = ad.AnnData(adata.X, obs=pd.DataFrame(index=adata.obs_names), var=adata.var[["highly_variable"]])
    embed_genes(work, model=model, view=DEFAULT_VIEW)
    return work


def _cells_from(work: ad.AnnData, config: dict) -> np.ndarray:
    from ..tl import embed_cells

    embed_cells(work, recipe=CellRecipe(**{name: config[name] for name in RECIPE_FIELDS}))
    return work.obsm["X_textcell"]


def default_config() -> dict:
    """textcell's defaults: the default gene model and the ``textcell`` recipe."""
    return recipe_config("textcell")


def validation_sweep(dataset: CellDataset = VALIDATION, *, seeds=SEEDS) -> pd.DataFrame:
    """k-means ARI (mean, sd over seeds) of every configuration in the grid on the validation data,
    and of the same configurations with random gene vectors (``model == "random"``)."""
    from ..embed import RandomEmbedder

    adata = prepare(dataset.load())
    labels = adata.obs[dataset.label].astype(str).to_numpy()
    rows = []
    grid = [
        dict(zip(CONFIG_GRID, values, strict=True)) for values in itertools.product(*CONFIG_GRID.values())
    ]
    grid = [config for config in grid if config["center"] or not config["whiten"]]  # whiten centres
    genes = {}  # gene vectors once per model, shared by every option set
    for config in progress(grid, desc="validation sweep", unit="config"):
        # the random control does not depend on the text model: once per remaining option set
        for control in (False, True) if config["model"] == DEFAULT_MODEL else (False,):
            model = "random" if control else config["model"]
            if model not in genes:
                genes[model] = _with_gene_vectors(adata, RandomEmbedder() if control else model)
            embedding = _cells_from(genes[model], config)
            summary = summarize(metrics.kmeans_scores(embedding, labels, seeds=seeds)["ari"])
            rows.append({**config, "model": model, **summary})
    return pd.DataFrame(rows)


def choose_config(sweep: pd.DataFrame) -> dict:
    """The text configuration with the best mean validation ARI."""
    text = sweep[sweep["model"] != "random"]
    best = text.loc[text["mean"].idxmax()]
    return {name: _plain(best[name]) for name in CONFIG_GRID}


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def embeddings_for(adata: ad.AnnData, config: dict) -> dict[str, np.ndarray]:
    """The four compared embeddings of one prepared dataset."""
    from ..embed import RandomEmbedder

    return {
        "PCA": pca_embedding(adata),
        "GenePT-w (published recipe)": textcell_embedding(adata, PUBLISHED),
        "textcell": textcell_embedding(adata, config),
        "random genes": textcell_embedding(adata, config, gene_model=RandomEmbedder()),
    }


def evaluate(embedding: np.ndarray, labels, batches=None, *, seeds=SEEDS) -> dict:
    """Every metric of one embedding; summaries plus the raw per-seed/per-fold scores and the
    graph (for UMAPs) and out-of-fold kNN predictions (for confusion matrices)."""
    kmeans = metrics.kmeans_scores(embedding, labels, seeds=seeds)
    graph = metrics.neighbor_graph(embedding)
    leiden = metrics.leiden_scores(graph, labels, seeds=seeds)
    transfer = metrics.label_transfer(embedding, labels, groups=batches)
    scores = {
        "kmeans_ari": kmeans["ari"],
        "kmeans_ami": kmeans["ami"],
        "leiden_ari": leiden["ari"],
        "leiden_ami": leiden["ami"],
        "silhouette": [metrics.label_silhouette(embedding, labels)],
        **{
            f"{model}_{name}": transfer[model][name]
            for model in transfer
            for name in ("accuracy", "macro_f1")
        },
    }
    if batches is not None:
        scores["batch_asw"] = [metrics.batch_silhouette(embedding, labels, batches)]
        scores["ilisi"] = [metrics.ilisi(embedding, batches)]
    return {
        "summary": {name: summarize(values) for name, values in scores.items()},
        "scores": scores,
        "leiden_resolution": leiden["resolution"],
        "knn_predicted": transfer["knn"]["predicted"],
        "graph": graph,
    }


def cell_benchmark(datasets=tuple(DATASETS), *, config: dict | None = None, seeds=SEEDS) -> dict:
    """Run the validation sweep (unless ``config`` is given, e.g. :func:`default_config`) and
    every dataset.

    ``datasets`` holds names from :data:`DATASETS` or :class:`CellDataset` objects (any h5ad and
    label key a user names). Returns ``{"config", "sweep", "datasets": {name: {...}}}``; each
    dataset entry has the labels, batches and, per embedding, the output of :func:`evaluate`.
    """
    unknown = [d for d in datasets if isinstance(d, str) and d not in DATASETS]
    if unknown:
        raise InputError(f"Unknown dataset(s) {unknown}; choose from {', '.join(DATASETS)} or pass --h5ad.")
    sweep = None
    if config is None:
        sweep = validation_sweep(seeds=seeds)
        config = choose_config(sweep)
        logger.info("Chosen on the validation data: %s", config_label(config))
    results = {}
    for dataset in datasets:
        dataset = DATASETS[dataset] if isinstance(dataset, str) else dataset
        if dataset.name not in results:
            results[dataset.name] = _benchmark_one(dataset, config, seeds)
    return {"config": config, "sweep": sweep, "datasets": results}


def _benchmark_one(dataset: CellDataset, config: dict, seeds) -> dict:
    adata = dataset.load()
    for key in (dataset.label, dataset.batch):
        if key is not None and key not in adata.obs:
            raise InputError(f"{dataset.name}: obs has no column {key!r}; columns: {list(adata.obs)}.")
    with timed(f"{dataset.name}: normalisation and highly variable genes"):
        adata = prepare(adata)
    labels = adata.obs[dataset.label].astype(str).to_numpy()
    batches = adata.obs[dataset.batch].astype(str).to_numpy() if dataset.batch else None
    logger.info("%s: %d cells × %d genes", dataset.name, adata.n_obs, adata.n_vars)
    with timed(f"{dataset.name}: PCA, GenePT-w, textcell and random-gene embeddings"):
        embeddings = embeddings_for(adata, config)
    evaluated = {}
    for name, embedding in progress(embeddings.items(), desc=dataset.name, unit="embedding"):
        with timed(f"{dataset.name}: metrics of {name}"):
            evaluated[name] = evaluate(embedding, labels, batches, seeds=seeds)
    panels = None
    if batches is not None:
        from ..embed import RandomEmbedder
        from .panels import RANDOM, panel_transfer

        models = {"textcell": (config["model"], DEFAULT_VIEW), RANDOM: (RandomEmbedder(), DEFAULT_VIEW)}
        panels = panel_transfer(adata, labels, batches, models=models, config=config)
    return {
        "label": dataset.label,
        "batch": dataset.batch,
        "n_cells": int(adata.n_obs),
        "n_genes": int(adata.n_vars),
        "labels": labels,
        "batches": batches,
        "embeddings": evaluated,
        "panels": panels,
    }
