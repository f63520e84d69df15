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

from .._io import atomic_path, atomic_write
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


def write_report(
    folder,
    *,
    cells: dict | None = None,
    genes: pd.DataFrame | None = None,
    annotation: dict | None = None,
    programs: dict | None = None,
    classifier: dict | None = None,
    perturb: dict | None = None,
    knowledge: dict | None = None,
) -> dict:
    """Write a benchmark report into ``folder``; returns the results dict.

    Sections come from :func:`~textcell.bench.cells.cell_benchmark` (``cells``),
    :func:`~textcell.bench.genes.gene_benchmark` (``genes``),
    :func:`~textcell.bench.annotation.annotation_benchmark` (``annotation``, which writes its own
    figures), :func:`~textcell.bench.programs.program_benchmark` (``programs``) and
    :func:`~textcell.bench.classifier.classifier_benchmark` (``classifier``) and
    :func:`~textcell.bench.perturb.perturbation_benchmark` (``perturb``) and
    :func:`~textcell.bench.knowledge.knowledge_benchmark` (``knowledge``). A section already in
    the folder's ``results.json`` and not given again is kept, so each benchmark can be rerun alone;
    ``report.md`` is rendered from the merged results alone.
    """
    folder = Path(folder)
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    existing = folder / "results.json"
    results = json.loads(existing.read_text()) if existing.is_file() else {}
    results["textcell_version"] = version("textcell")
    if cells is not None:
        results["cells"] = _cell_results(cells)
        _cell_figures(cells, results["cells"], folder / "figures")
    if genes is not None:
        results["genes"] = genes.replace({np.nan: None}).to_dict(orient="records")
    if annotation is not None:
        results["annotation"] = annotation
    if programs is not None:
        results["programs"] = {k: v for k, v in programs.items() if k != "adata"}
        if "adata" in programs:
            from .. import pl

            heatmap = pl.program_heatmap(programs["adata"], title="Kang PBMC: text programs × cell types")
            save_figure(heatmap, folder / "figures", "programs_heatmap", dpi=110)
    if classifier is not None:
        results["classifier"] = classifier
        save_figure(_learning_curves(classifier), folder / "figures", "classifier_learning_curves", dpi=110)
    if perturb is not None:
        results["perturb"] = perturb
    if knowledge is not None:
        from .knowledge import knowledge_figure

        results["knowledge"] = knowledge
        save_figure(knowledge_figure(knowledge), folder / "figures", "knowledge_report", dpi=110)
    with atomic_write(existing, "w") as handle:
        json.dump(results, handle, indent=1)
    with atomic_write(folder / "report.md", "w") as handle:
        handle.write(render_markdown(results))
    return results


def save_figure(figure, folder, stem: str, *, dpi: int = 100) -> Path:
    """``folder/stem.png``, written atomically."""
    path = Path(folder) / f"{stem}.png"
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi)
    return path


def _cell_results(cells: dict) -> dict:
    from .panels import panel_results

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
                "panels": panel_results(entry.get("panels")),
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


def _learning_curves(classifier: dict):
    from matplotlib.figure import Figure

    tasks = classifier["tasks"]
    figure = Figure(figsize=(4.2 * len(tasks), 3.4), layout="constrained")
    axes = figure.subplots(1, len(tasks), squeeze=False)[0]
    for axis, (name, task) in zip(axes, tasks.items(), strict=True):
        fractions = list(task["n_train"])
        x = [float(f) for f in fractions]
        for model, by_fraction in task["results"].items():
            means = [by_fraction[f]["accuracy"]["mean"] for f in fractions]
            sds = [by_fraction[f]["accuracy"]["sd"] for f in fractions]
            axis.errorbar(x, means, yerr=sds, marker="o", capsize=3, label=model)
        axis.set_xscale("log")
        axis.set_xticks(x, [f"{v:.0%}" for v in x])
        axis.set_xlabel("fraction of the training donors' cells")
        axis.set_ylabel("accuracy on the held-out donor")
        axis.set_title(f"{name}: {task['label']}", fontsize="small")
        axis.legend(fontsize="small", frameon=False)
    return figure


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
    for dataset, entry in cell_results["datasets"].items():
        if entry.get("panels"):
            from .panels import panel_goal_lines

            lines += panel_goal_lines(dataset, entry["panels"])
    return lines


def _versus_pca(ours: dict, pca: dict) -> str:
    if ours["mean"] >= pca["mean"]:
        return "at or above it"
    if beats(pca, ours):
        return "below it by more than the spread"
    return "below its mean, within the spread"


def gene_goal_lines(genes: pd.DataFrame) -> list[str]:
    """Per task and classifier: the best text embedding against the text-availability baseline,
    the random control and GenePT's published number; a result the baseline matches is called
    what it is."""
    lines = []
    for (task, metric, classifier), group in genes.groupby(["task", "metric", "classifier"], sort=False):
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
        published = group.loc[group["kind"] == "published", "mean"]
        genept = f"; GenePT published {published.iloc[0]:.3f}" if len(published) else ""
        lines.append(
            f"- {task} ({metric}, {classifier}): best of the grid {best['embedding']} "
            f"{format_summary(best)}; text availability {format_summary(leakage)}; "
            f"random {format_summary(random)}{genept}: {verdict}."
        )
    return lines


def annotation_lines(annotation: dict) -> list[str]:
    """One table row per dataset: groups by status, accuracy (strict and lenient), cells outside
    the reference labels, wrong verified labels."""
    lines = [
        "| dataset | cells | groups: verified / weak / unknown | accuracy, strict | accuracy, lenient "
        "| unknown cells | outside the reference labels (verified) | wrong verified labels |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in annotation["datasets"].items():
        groups = " / ".join(str(entry["groups"][s]) for s in ("verified", "weak", "unknown"))
        wrong = entry["wrong_verified"]
        details = "; ".join(f"{w['label']} for {w['majority_label']} ({w['n_cells']} cells)" for w in wrong)
        outside = entry.get("outside", [])
        beyond = "; ".join(f"{o['label']} ({o['n_cells']} cells)" for o in outside)
        strict = entry.get("accuracy_strict")
        lines.append(
            f"| {name} | {entry['n_cells']:,} | {groups} "
            f"| {'' if strict is None else f'{strict:.1%}'} | {entry['accuracy']:.1%} "
            f"| {entry['cells_unknown']:.1%} "
            f"| {len(outside)}{': ' + beyond if outside else ''} "
            f"| {len(wrong)}{': ' + details if wrong else ''} |"
        )
    if "verifiable" in annotation:
        counts = annotation["verifiable"]
        lines += [
            "",
            f"Cell Ontology terms textcell's shipped table can verify: {counts['human']} for human, "
            f"{counts['mouse']} for mouse ({counts['table']} types).",
        ]
    return lines


def readme_table(results: dict) -> str:
    """The README's results: headline cell metrics per dataset and embedding, where textcell
    stands, the gene tasks for the default model beside the controls and GenePT's numbers, and
    the annotation accuracy — whichever of them ``results`` holds."""
    lines = []
    if "cells" in results:
        lines += _cells_readme(results["cells"])
    if "genes" in results:
        from .genes import summary_table

        genes = pd.DataFrame(results["genes"])
        lines += ["", summary_table(genes).rstrip("\n"), "", *gene_goal_lines(genes)]
    if "annotation" in results:
        lines += annotation_lines(results["annotation"])
    if "programs" in results:
        from .programs import program_goal_lines

        lines += ["", *program_goal_lines(results["programs"])]
    if "classifier" in results:
        from .classifier import classifier_goal_lines

        lines += ["", *classifier_goal_lines(results["classifier"])]
    if "perturb" in results:
        from .perturb_report import goal_lines as perturb_goal_lines

        lines += ["", *perturb_goal_lines(results["perturb"])]
    if "scgpt" in results:
        from .scgpt import readme_lines as scgpt_readme_lines

        lines += ["", *scgpt_readme_lines(results["scgpt"])]
    if "knowledge" in results:
        from .knowledge import readme_lines

        lines += ["", *readme_lines(results["knowledge"])]
    return "\n".join(lines).strip("\n") + "\n"


def _cells_readme(cells: dict) -> list[str]:
    header = "| dataset | embedding | " + " | ".join(CELL_COLUMNS[c] for c in README_COLUMNS) + " |"
    lines = [header, "|---" * (2 + len(README_COLUMNS)) + "|"]
    for dataset, entry in cells["datasets"].items():
        for embedding, result in entry["embeddings"].items():
            values = " | ".join(format_summary(result["summary"][c]) for c in README_COLUMNS)
            lines.append(f"| {dataset} | {embedding} | {values} |")
    return [*lines, "", *goal_lines(cells)]


def render_markdown(results: dict) -> str:
    parts = [
        f"# textcell benchmark report\n\ntextcell {results['textcell_version']}. Every number: mean ± sd "
        "over seeds (k-means, Leiden, classifiers, programs) or held-out folds (label transfer, "
        "perturbations); "
        "silhouettes, batch ASW and iLISI are single values.\n"
    ]
    if "cells" in results:
        parts.append(_cells_markdown(results["cells"]))
    if "genes" in results:
        from .genes import summary_table

        genes = pd.DataFrame(results["genes"])
        parts.append(
            "## Gene tasks\n\n" + summary_table(genes) + "\n" + "\n".join(gene_goal_lines(genes)) + "\n"
        )
    if "annotation" in results:
        parts.append(_annotation_markdown(results["annotation"]))
    if "programs" in results:
        from .programs import program_markdown

        parts.append(program_markdown(results["programs"]))
    if "classifier" in results:
        from .classifier import classifier_markdown

        parts.append(classifier_markdown(results["classifier"]))
        parts.append("![learning curves](figures/classifier_learning_curves.png)\n")
    if "perturb" in results:
        from .perturb_report import perturb_markdown

        parts.append(perturb_markdown(results["perturb"]))
    if "knowledge" in results:
        from .knowledge import knowledge_markdown

        parts.append(knowledge_markdown(results["knowledge"]))
    return "\n".join(parts)


def _annotation_markdown(annotation: dict) -> str:
    tissues = annotation.get("tissues", {})
    out = [
        "## Cell-type annotation\n",
        f"`textcell.tl.annotate` on Leiden clusters (scanpy's standard pipeline), markers "
        f"`{annotation['markers']}` and textcell's own table, text candidates from "
        f"`{annotation['gene_model']}` (Cell Ontology definitions and synonyms); tissues: "
        + "; ".join(f"{n}: {', '.join(t)}" for n, t in tissues.items())
        + ". A cell counts right when its group's label (verified or weak) names its annotated type "
        "(*strict*: the type or a subtype of it; *lenient*: an ancestor counts too, as partially right; "
        "the name map is in `textcell.bench.annotation`); unknown is never right; a verified label "
        "outside the dataset's label set counts neither way. `validation` is the dataset the rules "
        "and thresholds were chosen on; every other row is reported, not tuned on.\n",
        *annotation_lines(annotation),
    ]
    if annotation.get("calibration"):
        out += [
            "\n### Calibration of the quality score\n",
            "Every group of every dataset above (validation included; groups outside the reference labels "
            "left out), by its 0–100 quality score (`textcell.annotation.quality`, fixed in advance):\n",
            "| quality | groups | cells | groups right (lenient) | groups right (strict) "
            "| cells right (lenient) |",
            "|---|---|---|---|---|---|",
        ]
        out += [
            f"| {b['bin']} | {b['n_groups']} | {b['n_cells']:,} | {_share(b['right'])} "
            f"| {_share(b['right_strict'])} "
            f"| {_share(b['cells_right'])} |"
            for b in annotation["calibration"]
        ]
    texts = {n: e["text"] for n, e in annotation["datasets"].items() if e.get("text")}
    if texts:
        out += [
            "\n### Text candidates (a proposer, never a judge)\n",
            "How often a right type is among a group's three best text candidates (the group's top "
            "Wilcoxon genes through the gene embeddings against the embedded Cell Ontology definitions "
            "and synonyms), beside the exact expectation for random description vectors (every ranking "
            "equally likely):\n",
            "| dataset | groups | types described | top-3 hit rate | random vectors (expected) |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {n} | {t['n_groups']} | {t['n_types']} | {_share(t['hit_rate'])} "
            f"| {_share(t['random_expected'])} |"
            for n, t in texts.items()
        ]
    if annotation.get("database_rule"):
        out += [
            "\n### When database-only markers may verify\n",
            "Each dataset annotated with textcell's own table removed, so every label must come from the "
            "marker databases; a type may be verified with the genes at least `min_sources` of PanglaoDB, "
            "CellMarker 2.0 and ScType list for its Cell Ontology term. A verified label not right for its "
            "group's majority type counts as wrong here, even outside the dataset's labels. The default "
            "is chosen on `validation` alone (`textcell.ontology.databases`).\n",
            "| dataset | min_sources | verified right | verified wrong | outside | accuracy, lenient "
            "| wrong |",
            "|---|---|---|---|---|---|---|",
        ]
        out += [
            f"| {r['dataset']} | {r['min_sources']} | {r['verified_right']} | {r['verified_wrong']} "
            f"| {r['outside']} "
            f"| {_share(r['accuracy'])} | {'; '.join(r['wrong'])} |"
            for r in annotation["database_rule"]
        ]
    for name, entry in annotation["datasets"].items():
        table = pd.DataFrame(entry["table"]).merge(
            pd.DataFrame(entry["evidence"]), on=["group", "label", "status"]
        )
        out += [
            f"\n### {name}\n",
            f"{entry['n_cells']:,} cells × {entry['n_genes']:,} genes ({entry.get('species', 'human')}), "
            f"{entry['n_groups']} groups.\n",
        ]
        if entry.get("named"):
            named = "; ".join(f"{t}: {', '.join(n) if n else '—'}" for t, n in entry["named"].items())
            out.append(f"Named (strictly right label for a group of that majority): {named}.\n")
        out.append(
            "| group | cells | majority label | label | status | quality | right (strict / lenient) | chain "
            "| CL | supporting | contradicting |"
        )
        out.append("|---" * 11 + "|")
        out += [
            f"| {r.group} | {r.n_cells} | {r.majority_label} | {r.label} | {r.status} | {r.quality:.0f} "
            f"| {_right(r)} | {r.chain} | {r.cell_ontology} | {r.supporting} | {r.contradicting} |"
            for r in table.itertuples()
        ]
        out.append(
            f"\n![UMAP](figures/annotation_{name}_umap.png)\n![evidence](figures/annotation_{name}_evidence.png)"
        )
    return "\n".join(out) + "\n"


def _share(value) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.0%}"


def _right(row) -> str:
    if getattr(row, "outside", False):
        return "outside"
    return f"{'yes' if row.right_strict else 'no'} / {'yes' if row.right else 'no'}"


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
    from .panels import panel_markdown

    out.append(panel_markdown(cells))
    if cells["sweep"]:
        sweep = pd.DataFrame(cells["sweep"]).sort_values("mean", ascending=False)
        out.append("### Validation sweep (k-means ARI on kang_ifnb, not a reported dataset)\n")
        out.append("| " + " | ".join(CONFIG_GRID) + " | ARI |\n" + "|---" * (len(CONFIG_GRID) + 1) + "|")
        out.extend(
            "| " + " | ".join(str(row[c]) for c in CONFIG_GRID) + f" | {format_summary(row)} |"
            for _, row in sweep.iterrows()
        )
    return "\n".join(out) + "\n"
