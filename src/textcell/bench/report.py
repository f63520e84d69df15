"""The benchmark report: ``results.json``, ``report.md`` and ``figures/`` in one folder.

``results.json`` holds every number (summaries and the raw per-seed / per-fold scores); the
markdown report and the README's results table are rendered from it alone, so the README can be
checked against the committed results (:func:`readme_table`).
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from .._io import atomic_write
from .stats import beats, format_summary

CELL_COLUMNS = {
    "kmeans_ari": "k-means ARI",
    "kmeans_ami": "k-means AMI",
    "leiden_ari": "Leiden ARI",
    "silhouette": "label silhouette",
    "knn_macro_f1": "kNN transfer F1",
    "logreg_macro_f1": "LR transfer F1",
    "batch_asw": "batch ASW",
    "ilisi": "iLISI",
}
README_COLUMNS = ("kmeans_ari", "leiden_ari", "knn_macro_f1")


def write_report(folder, *, cells: dict | None = None, genes: pd.DataFrame | None = None) -> dict:
    """Write the report of a :func:`~textcell.bench.cells.cell_benchmark` and/or
    :func:`~textcell.bench.genes.gene_benchmark` run into ``folder``; returns the results dict."""
    folder = Path(folder)
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    results = {"textcell_version": version("textcell")}
    if cells is not None:
        results["cells"] = _cell_results(cells)
        _cell_figures(cells, results["cells"], folder / "figures")
    if genes is not None:
        results["genes"] = genes.replace({np.nan: None}).to_dict(orient="records")
    with atomic_write(folder / "results.json", "w") as handle:
        json.dump(results, handle, indent=1)
    with atomic_write(folder / "report.md", "w") as handle:
        handle.write(render_markdown(results))
    return results


def _cell_results(cells: dict) -> dict:
    sweep = cells["sweep"]
    return {
        "config": cells["config"],
        "sweep": None if sweep is None else sweep.to_dict(orient="records"),
        "datasets": {
            name: {
                **{key: entry[key] for key in ("label", "batch", "n_cells", "n_genes")},
                "embeddings": {
                    embedding: {
                        "summary": result["summary"],
                        "scores": result["scores"],
                        "leiden_resolution": result["leiden_resolution"],
                    }
                    for embedding, result in entry["embeddings"].items()
                },
            }
            for name, entry in cells["datasets"].items()
        },
    }


def _cell_figures(cells: dict, cell_results: dict, figures: Path) -> None:
    import scanpy as sc

    from .. import pl

    frame = cell_frame(cell_results)
    for metric in ("kmeans_ari", "knn_macro_f1"):
        rows = frame[frame["metric"] == metric]
        pl.metric_bars(rows, metric=CELL_COLUMNS[metric]).savefig(figures / f"cells_{metric}.png", dpi=110)
    for name, entry in cells["datasets"].items():
        umaps = {}
        for embedding, result in entry["embeddings"].items():
            graph = result["graph"]
            sc.tl.umap(graph, random_state=0)
            umaps[embedding] = graph.obsm["X_umap"]
        colors = {"label": entry["labels"], **({"batch": entry["batches"]} if entry["batch"] else {})}
        pl.embedding_umaps(umaps, colors).savefig(figures / f"{name}_umap.png", dpi=90)
        for embedding in ("PCA", "textcell"):
            predicted = entry["embeddings"][embedding]["knn_predicted"]
            title = f"{name}: kNN transfer, {embedding}"
            figure = pl.confusion(entry["labels"], predicted, title=title)
            figure.savefig(figures / f"{name}_confusion_{embedding}.png", dpi=100)


def cell_frame(cell_results: dict) -> pd.DataFrame:
    """Tidy cell summaries: dataset, embedding, metric, mean, sd, ci_low, ci_high, n."""
    return pd.DataFrame(
        {"dataset": dataset, "embedding": embedding, "metric": metric, **summary}
        for dataset, entry in cell_results["datasets"].items()
        for embedding, result in entry["embeddings"].items()
        for metric, summary in result["summary"].items()
    )


def goal_lines(cell_results: dict) -> list[str]:
    """Plain statements of the goal: does textcell beat random genes and match PCA (k-means ARI)?"""
    lines = []
    for dataset, entry in cell_results["datasets"].items():
        ari = {name: result["summary"]["kmeans_ari"] for name, result in entry["embeddings"].items()}
        ours, random, pca = ari["textcell"], ari["random genes"], ari["PCA"]
        lines.append(
            f"- {dataset}: textcell {format_summary(ours)} vs random genes {format_summary(random)} "
            f"({'beats it' if beats(ours, random) else 'does not beat it'} by more than the spread); "
            f"vs PCA {format_summary(pca)} ({_versus_pca(ours, pca)})."
        )
    return lines


def _versus_pca(ours: dict, pca: dict) -> str:
    if ours["mean"] >= pca["mean"]:
        return "at or above it"
    if beats(pca, ours):
        return "below it by more than the spread"
    return "below its mean, within the spread"


def gene_goal_lines(genes: pd.DataFrame) -> list[str]:
    """Per task: the best text embedding against the text-availability baseline and the random
    control; a result the baseline matches is called what it is."""
    lines = []
    for (task, metric), group in genes.groupby(["task", "metric"], sort=False):
        text = group[group["kind"] == "text"]
        if text.empty:
            continue
        best = text.loc[text["mean"].idxmax()]
        leakage = group[group["kind"] == "leakage"].iloc[0]
        random = group[group["embedding"] == "random"].iloc[0]
        if not beats(best, random):
            verdict = "no signal beyond random vectors"
        elif beats(best, leakage):
            verdict = "above the text-availability baseline by more than the spread"
        else:
            verdict = "explained by text availability (not a win)"
        lines.append(
            f"- {task} ({metric}): best of the grid {best['embedding']} {format_summary(best)}; "
            f"text availability {format_summary(leakage)}; random {format_summary(random)}: {verdict}."
        )
    return lines


def readme_table(results: dict) -> str:
    """The README's results: headline cell metrics per dataset and embedding, where textcell
    stands, and the gene tasks for the default model beside the controls and GenePT's numbers."""
    cells = results["cells"]
    header = "| dataset | embedding | " + " | ".join(CELL_COLUMNS[c] for c in README_COLUMNS) + " |"
    lines = [header, "|---" * (2 + len(README_COLUMNS)) + "|"]
    for dataset, entry in cells["datasets"].items():
        for embedding, result in entry["embeddings"].items():
            values = " | ".join(format_summary(result["summary"][c]) for c in README_COLUMNS)
            lines.append(f"| {dataset} | {embedding} | {values} |")
    lines += ["", *goal_lines(cells)]
    if "genes" in results:
        from .genes import summary_table

        genes = pd.DataFrame(results["genes"])
        lines += ["", summary_table(genes).rstrip("\n"), "", *gene_goal_lines(genes)]
    return "\n".join(lines) + "\n"


def render_markdown(results: dict) -> str:
    parts = [
        f"# textcell benchmark report\n\ntextcell {results['textcell_version']}. Every number: mean ± sd "
        "over seeds (k-means, Leiden) or held-out folds (label transfer); silhouettes, batch ASW and "
        "iLISI are single values.\n"
    ]
    if "cells" in results:
        parts.append(_cells_markdown(results["cells"]))
    if "genes" in results:
        from .genes import summary_table

        genes = pd.DataFrame(results["genes"])
        parts.append(
            "## Gene tasks\n\n" + summary_table(genes) + "\n" + "\n".join(gene_goal_lines(genes)) + "\n"
        )
    return "\n".join(parts)


def _cells_markdown(cells: dict) -> str:
    from .cells import CONFIG_GRID, config_label

    chosen = config_label(cells["config"])
    out = [
        "## Cell embeddings\n",
        f"textcell configuration (chosen on the validation data): **{chosen}**.\n",
        "### Where we stand\n",
        *goal_lines(cells),
        "",
    ]
    frame = cell_frame(cells)
    for dataset, entry in cells["datasets"].items():
        metrics = [m for m in CELL_COLUMNS if m in entry["embeddings"]["PCA"]["summary"]]
        out.append(
            f"### {dataset}\n\n{entry['n_cells']:,} cells × {entry['n_genes']:,} genes; labels "
            f"`{entry['label']}`; label transfer holds out each `{entry['batch']}`"
            if entry["batch"]
            else f"### {dataset}\n\n{entry['n_cells']:,} cells × {entry['n_genes']:,} genes; labels "
            f"`{entry['label']}`; label transfer by stratified 5-fold (no batch)"
        )
        out.append("\n| embedding | " + " | ".join(CELL_COLUMNS[m] for m in metrics) + " |")
        out.append("|---" * (1 + len(metrics)) + "|")
        rows = frame[frame["dataset"] == dataset]
        for embedding in entry["embeddings"]:
            cells_ = rows[rows["embedding"] == embedding].set_index("metric")
            out.append(
                f"| {embedding} | " + " | ".join(format_summary(cells_.loc[m]) for m in metrics) + " |"
            )
        out.append(f"\n![UMAPs](figures/{dataset}_umap.png)\n")
        out.append(
            f"![confusion PCA](figures/{dataset}_confusion_PCA.png) "
            f"![confusion textcell](figures/{dataset}_confusion_textcell.png)\n"
        )
    out.append("![k-means ARI](figures/cells_kmeans_ari.png) ![kNN F1](figures/cells_knn_macro_f1.png)\n")
    if cells["sweep"]:
        sweep = pd.DataFrame(cells["sweep"]).sort_values("mean", ascending=False)
        out.append("### Validation sweep (k-means ARI on kang_ifnb, not a reported dataset)\n")
        out.append("| " + " | ".join(CONFIG_GRID) + " | ARI |\n" + "|---" * (len(CONFIG_GRID) + 1) + "|")
        out.extend(
            "| " + " | ".join(str(row[c]) for c in CONFIG_GRID) + f" | {format_summary(row)} |"
            for _, row in sweep.iterrows()
        )
    return "\n".join(out) + "\n"
