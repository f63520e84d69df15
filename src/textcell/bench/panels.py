"""Disjoint gene panels: a cell-level task that only gene knowledge can solve.

The embedded genes of a dataset are split at random into two disjoint halves, panels A and B.
Reference cells (every batch but one) are embedded from panel A only, the held-out batch's cells
from panel B only, and kNN (``k = 15``) transfers the labels; the score is the macro-F1 averaged
over held-out batches, one score per split seed. With random gene vectors the two panels share
nothing, so transfer is near chance; gene vectors that place genes of similar function together
carry the cell type from one panel to the other. Beside it, ``same panel``: reference and query
both embedded from panel A — what the same cells reach when nothing has to be bridged.

The cells are embedded by :func:`textcell.tl.embed_cells` with the benchmark's configuration
without whitening and without idf weights (:func:`panel_config`). Whitening is fitted on the
panel's own genes, so each panel would land in its own rotated coordinates (and, with fewer genes
than dimensions, in fewer of them). Chosen on the validation data (``kang_ifnb``, samples held
out, 5 seeds, ``tfidf:512`` / ``function``; disjoint macro-F1, same-panel in brackets), starting
from highly variable genes, idf, centring and z-scores: whitening fitted on all genes and shared by
both panels 0.383 ± 0.023 (0.771); centring per panel 0.429 ± 0.033 (0.715), on all genes 0.424 ±
0.032 (0.716); z-scoring each side's cell vectors lowered every variant (0.29–0.37); without
z-scores 0.462 ± 0.045 (0.744); without idf 0.480 ± 0.066 (0.656), the choice; without both 0.444 ±
0.075 (0.694); without idf on all genes 0.396 ± 0.031 (0.529); without centring 0.387 ± 0.022
(0.629). Random genes: 0.13–0.18.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from sklearn.neighbors import KNeighborsClassifier

from ..errors import InputError
from .metrics import N_NEIGHBORS
from .stats import format_summary, summarize

PANEL_SEEDS = range(5)
RANDOM = "random genes"


def panel_config(config: dict) -> dict:
    """The cell configuration of the panel task: the benchmark's, without whitening or idf."""
    return {**config, "whiten": False, "idf": False}


def panel_transfer(
    adata: ad.AnnData, labels, batches, *, models: dict, config: dict, seeds=PANEL_SEEDS
) -> dict:
    """Disjoint-panel and same-panel transfer for each gene model.

    ``adata`` is prepared (:func:`textcell.bench.cells.prepare`); ``models`` maps a row name to
    ``(model, view)``; ``config`` holds ``embed_cells``' options (``highly_variable``, ``idf``,
    ``center``, ``whiten``, ``scale``). Returns ``{row: {"disjoint": [per seed], "same panel":
    [per seed], "n_genes": embedded genes}}``.
    """
    from ..tl import embed_genes

    labels, batches = np.asarray(labels), np.asarray(batches)
    if len(np.unique(batches)) < 2:
        raise InputError("Disjoint-panel transfer holds out batches: it needs at least two.")
    out = {}
    for name, (model, view) in models.items():
        work = ad.AnnData(
            adata.X, obs=pd.DataFrame(index=adata.obs_names), var=adata.var[["highly_variable"]]
        )
        embed_genes(work, model=model, view=view)
        has = work.var["textcell_has_embedding"].to_numpy(bool)
        scores = {"disjoint": [], "same panel": []}
        for seed in seeds:
            genes = np.flatnonzero(has)
            panel_a = np.zeros(adata.n_vars, dtype=bool)
            panel_a[np.random.default_rng(seed).permutation(genes)[: len(genes) // 2]] = True
            cells_a = _panel_cells(work, panel_a, config)
            cells_b = _panel_cells(work, has & ~panel_a, config)
            scores["disjoint"].append(_transfer(cells_a, cells_b, labels, batches))
            scores["same panel"].append(_transfer(cells_a, cells_a, labels, batches))
        out[name] = {**scores, "n_genes": int(has.sum())}
    return out


def _panel_cells(work: ad.AnnData, panel: np.ndarray, config: dict) -> np.ndarray:
    from ..tl import embed_cells

    work.var["textcell_has_embedding"] = panel
    options = panel_config(config)
    embed_cells(
        work,
        method="weighted",
        **{k: options[k] for k in ("highly_variable", "idf", "center", "whiten", "scale")},
    )
    return np.asarray(work.obsm["X_textcell"]).copy()


def _transfer(reference: np.ndarray, query: np.ndarray, labels, batches) -> float:
    """Mean over held-out batches of the macro-F1 of kNN trained on the other batches' reference
    vectors and applied to the held-out batch's query vectors."""
    scores = []
    for batch in np.unique(batches):
        test = batches == batch
        knn = KNeighborsClassifier(n_neighbors=min(N_NEIGHBORS, int((~test).sum())))
        predicted = knn.fit(reference[~test], labels[~test]).predict(query[test])
        scores.append(f1_score(labels[test], predicted, average="macro"))
    return float(np.mean(scores))


def panel_summary(panels: dict) -> dict:
    """Each row's disjoint and same-panel summaries, the share of the same-panel F1 it keeps, and
    its paired gain over the random-genes row (one difference per seed: the same panels)."""
    random = panels.get(RANDOM)
    out = {}
    for name, entry in panels.items():
        row = {key: summarize(entry[key]) for key in ("disjoint", "same panel")}
        row["n_genes"] = entry["n_genes"]
        row["retained"] = row["disjoint"]["mean"] / row["same panel"]["mean"]
        if random is not None and name != RANDOM:
            row["gain_over_random"] = summarize(np.subtract(entry["disjoint"], random["disjoint"]))
        out[name] = row
    return out


def panel_results(panels: dict | None) -> dict | None:
    """What results.json keeps: the raw per-seed scores and their summaries."""
    if panels is None:
        return None
    summary = panel_summary(panels)
    return {
        name: {**summary[name], "scores": {k: entry[k] for k in ("disjoint", "same panel")}}
        for name, entry in panels.items()
    }


def panel_goal_lines(dataset: str, panels: dict) -> list[str]:
    """Does textcell beat random genes across disjoint panels by more than 2 sd of the paired
    gain, and keep at least 70% of its same-panel F1? Said plainly either way."""
    ours, random = panels.get("textcell"), panels.get(RANDOM)
    if ours is None or random is None:
        return []
    gain = ours["gain_over_random"]
    beats = gain["mean"] > 2 * gain["sd"]
    kept = ours["retained"]
    return [
        f"- {dataset}, disjoint gene panels (kNN macro-F1, {gain['n']} splits): textcell "
        f"{format_summary(ours['disjoint'])} vs random genes {format_summary(random['disjoint'])}: gain "
        f"{gain['mean']:+.3f} ± {gain['sd']:.3f} ({'more' if beats else 'not more'} than 2 sd); "
        f"{kept:.0%} of its same-panel F1 {format_summary(ours['same panel'])} "
        f"({'meets' if kept >= 0.7 else f'misses the 70% goal by {0.7 - kept:.0%} points'})."
    ]


def panel_markdown(cell_results: dict) -> str:
    """A table per dataset with panels: rows textcell and random genes; disjoint, same panel, kept."""
    out = []
    for dataset, entry in cell_results["datasets"].items():
        panels = entry.get("panels")
        if not panels:
            continue
        out += [
            f"\n**{dataset}** (`{entry['batch']}` held out)\n",
            "| gene vectors | genes | disjoint panels F1 | same panel F1 | kept | gain over random |",
            "|---|---|---|---|---|---|",
        ]
        for name, row in panels.items():
            gain = row.get("gain_over_random")
            gain_text = "-" if gain is None else f"{gain['mean']:+.3f} ± {gain['sd']:.3f}"
            out.append(
                f"| {name} | {row['n_genes']:,} | {format_summary(row['disjoint'])} | "
                f"{format_summary(row['same panel'])} | {row['retained']:.0%} | "
                f"{gain_text} |"
            )
    if not out:
        return ""
    return "\n".join(["### Disjoint gene panels\n", __doc__.split("\n\n")[1].replace("\n", " "), *out]) + "\n"
