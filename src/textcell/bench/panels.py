"""Disjoint gene panels: a cell-level task that only gene knowledge can solve.

The embedded genes of a dataset are split at random into two disjoint halves, panels A and B.
Reference cells (every batch but one) are embedded from panel A only, the held-out batch's cells
from panel B only, and kNN (``k = 15``) transfers the labels; the score is the macro-F1 averaged
over held-out batches, one score per split seed. With random gene vectors the two panels share
nothing, so transfer is at chance; gene vectors that place genes of similar function together
carry the cell type from one panel to the other. Beside it, ``same panel``: reference and query
both embedded from panel A — what the same cells reach when nothing has to be bridged.

The cell recipe is the benchmark's configuration (highly variable genes, idf, z-scores), with
one difference: whitening (or centring) is fitted once, on the vectors of all the dataset's
embedded genes, and applied to both panels, so both land in the same coordinates (per-panel
whitening would rotate each panel its own way). :data:`RECIPES` lists the alternatives measured on
the validation data (``kang_ifnb``, samples held out).
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.neighbors import KNeighborsClassifier

from ..errors import InputError
from .metrics import N_NEIGHBORS
from .stats import summarize

PANEL_SEEDS = range(5)
RECIPES = ("shared", "per_panel")  # where the whitening (centring) of the gene vectors is fitted
RECIPE = "shared"
ALIGNMENTS = ("none", "standardize")  # standardize: z-score each side's cell vectors per dimension
ALIGNMENT = "none"


def panel_transfer(
    adata: ad.AnnData,
    labels,
    batches,
    *,
    models: dict,
    config: dict,
    seeds=PANEL_SEEDS,
    recipe: str = RECIPE,
    alignment: str = ALIGNMENT,
) -> dict:
    """Disjoint-panel and same-panel transfer for each gene model.

    ``adata`` is prepared (:func:`textcell.bench.cells.prepare`); ``models`` maps a row name to
    ``(model, view)``. Returns ``{row: {"disjoint": [per seed], "same panel": [per seed]}}`` and,
    under ``"n_genes"``, each row's number of embedded genes.
    """
    if recipe not in RECIPES or alignment not in ALIGNMENTS:
        raise InputError(
            f"Unknown panel recipe {recipe!r} or alignment {alignment!r}; recipes: {', '.join(RECIPES)}; "
            f"alignments: {', '.join(ALIGNMENTS)}."
        )
    labels, batches = np.asarray(labels), np.asarray(batches)
    if len(np.unique(batches)) < 2:
        raise InputError("Disjoint-panel transfer holds out batches: it needs at least two.")
    out = {}
    for name, (model, view) in models.items():
        work = _gene_space(adata, model, view, config, recipe)
        has = work.var["textcell_has_embedding"].to_numpy(bool)
        scores = {"disjoint": [], "same panel": []}
        for seed in seeds:
            genes = np.flatnonzero(has)
            panel_a = np.zeros(adata.n_vars, dtype=bool)
            panel_a[np.random.default_rng(seed).permutation(genes)[: len(genes) // 2]] = True
            panel_b = has & ~panel_a
            cells_a = _panel_cells(work, panel_a, config, recipe)
            cells_b = _panel_cells(work, panel_b, config, recipe)
            scores["disjoint"].append(_transfer(cells_a, cells_b, labels, batches, alignment))
            scores["same panel"].append(_transfer(cells_a, cells_a, labels, batches, alignment))
        out[name] = {**scores, "n_genes": int(has.sum())}
    return out


def _gene_space(adata: ad.AnnData, model, view: str, config: dict, recipe: str) -> ad.AnnData:
    """The prepared counts with the gene vectors of ``model`` in ``varm['textcell']``, whitened or
    centred over all embedded genes when the recipe shares that transform between the panels."""
    from ..tl import embed_genes
    from ..tl.embed_cells import _whitened

    work = ad.AnnData(adata.X, obs=pd.DataFrame(index=adata.obs_names), var=adata.var[["highly_variable"]])
    embed_genes(work, model=model, view=view)
    has = work.var["textcell_has_embedding"].to_numpy(bool)
    if recipe == "shared":
        vectors = np.asarray(work.varm["textcell"], dtype=np.float32)
        if config["whiten"]:
            vectors = _whitened(vectors, has)
        elif config["center"]:
            vectors = np.where(has[:, None], vectors - vectors[has].mean(axis=0), 0).astype(np.float32)
        work.varm["textcell"] = vectors
    return work


def _panel_cells(work: ad.AnnData, panel: np.ndarray, config: dict, recipe: str) -> np.ndarray:
    from ..tl import embed_cells

    work.var["textcell_has_embedding"] = panel
    shared = recipe == "shared"
    embed_cells(
        work,
        method="weighted",
        highly_variable=config["highly_variable"],
        idf=config["idf"],
        center=config["center"] and not shared,
        whiten=config["whiten"] and not shared,
        scale=config["scale"],
    )
    return np.asarray(work.obsm["X_textcell"]).copy()


def _transfer(reference: np.ndarray, query: np.ndarray, labels, batches, alignment: str) -> float:
    """Mean over held-out batches of the macro-F1 of kNN trained on the other batches' reference
    vectors and applied to the held-out batch's query vectors (each side z-scored per dimension
    first with ``alignment="standardize"``: no labels are used)."""
    scores = []
    for batch in np.unique(batches):
        test = batches == batch
        train_x, test_x = reference[~test], query[test]
        if alignment == "standardize":
            train_x, test_x = (_zscore(x) for x in (train_x, test_x))
        knn = KNeighborsClassifier(n_neighbors=min(N_NEIGHBORS, int((~test).sum())))
        predicted = knn.fit(train_x, labels[~test]).predict(test_x)
        scores.append(f1_score(labels[test], predicted, average="macro"))
    return float(np.mean(scores))


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def panel_summary(panels: dict) -> dict:
    """Each row's disjoint and same-panel summaries, and the paired gain of every row over the
    random-genes row (one difference per seed: the same panels)."""
    random = panels.get("random genes")
    out = {}
    for name, entry in panels.items():
        row = {key: summarize(entry[key]) for key in ("disjoint", "same panel")}
        row["n_genes"] = entry["n_genes"]
        row["retained"] = row["disjoint"]["mean"] / row["same panel"]["mean"]
        if random is not None and name != "random genes":
            row["gain_over_random"] = summarize(np.subtract(entry["disjoint"], random["disjoint"]))
        out[name] = row
    return out
