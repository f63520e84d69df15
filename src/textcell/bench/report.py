"""The benchmark report: ``results.json``, ``report.md`` and ``figures/`` in one folder.

``results.json`` holds every number (summaries and the raw per-seed / per-fold scores); the
markdown report and the README's results table are rendered from it alone, so the README can be
checked against the committed results (:func:`readme_table`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import import_module
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


@dataclass(frozen=True)
class Section:
    """One benchmark's part of a report folder: how its run is stored (``store``: the run's output
    and the folder → JSON-ready results, figures written beside them), and how the stored results
    are written as a markdown section, as README lines and as the lines printed after a run.
    Functions are named ``"module:function"`` within :mod:`textcell.bench` and imported on use."""

    key: str
    store: str
    markdown: str
    readme: str
    console: str | None = None  # default: the README lines

    def call(self, what: str, *args):
        module, name = getattr(self, what).split(":")
        return getattr(import_module(f"textcell.bench.{module}"), name)(*args)

    def printed(self, results: dict) -> list[str]:
        return self.call("console" if self.console else "readme", results)


# The registry, in report order. A new benchmark adds one entry here and a module with its
# functions; write_report, the report and the README's blocks need no other change.
SECTIONS = {
    section.key: section
    for section in (
        Section("cells", "report:_store_cells", "report:_cells_markdown", "report:_cells_readme",
                "report:goal_lines"),
        Section("genes", "report:_store_genes", "report:_genes_markdown", "report:_genes_readme"),
        Section("annotation", "report:_stored_as_is", "report:_annotation_markdown",
                "report:annotation_lines"),
        Section("programs", "report:_store_programs", "programs:program_markdown",
                "programs:program_goal_lines"),
        Section("classifier", "report:_store_classifier", "report:_classifier_markdown",
                "classifier:classifier_goal_lines"),
        Section("perturb", "report:_stored_as_is", "perturb_report:perturb_markdown",
                "perturb_report:goal_lines"),
        Section("scgpt", "scgpt:store", "scgpt:scgpt_markdown", "scgpt:readme_lines"),
        Section("knowledge", "report:_store_knowledge", "knowledge:knowledge_markdown",
                "knowledge:readme_lines", "knowledge:console_lines"),
    )
}  # fmt: skip


def write_report(folder, **sections) -> dict:
    """Write benchmark results into the report folder ``folder``; returns the results dict.

    Each keyword is a section of :data:`SECTIONS` with the output of its benchmark run
    (``cells=`` :func:`~textcell.bench.cells.cell_benchmark`, ``genes=``
    :func:`~textcell.bench.genes.gene_benchmark`, ``annotation=``, ``programs=``, ``classifier=``,
    ``perturb=``, ``scgpt=``, ``knowledge=``: the ``*_benchmark`` function of that module). A
    section already in the folder's ``results.json`` and not given again is kept, so each
    benchmark can be rerun alone; ``report.md`` is rendered from the merged results alone.
    """
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise TypeError(f"Unknown report section(s) {unknown}; known: {', '.join(SECTIONS)}.")
    folder = Path(folder)
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    existing = folder / "results.json"
    results = json.loads(existing.read_text()) if existing.is_file() else {}
    results["textcell_version"] = version("textcell")
    for key, output in sections.items():
        if output is not None:
            results[key] = SECTIONS[key].call("store", output, folder)
    with atomic_write(existing, "w") as handle:
        json.dump(results, handle, indent=1)
    with atomic_write(folder / "report.md", "w") as handle:
        handle.write(render_markdown(results))
    return results


def printed_lines(results: dict, keys) -> list[str]:
    """What a command prints after writing the sections ``keys`` of ``results``."""
    return [line for key in keys if key in results for line in SECTIONS[key].printed(results[key])]


def write_and_print(folder, **sections) -> dict:
    """:func:`write_report`, then print the sections' goal lines and what was written: the end of
    every ``textcell bench`` command."""
    written = write_report(folder, **sections)
    print("\n".join(printed_lines(written, sections)))
    print(f"Wrote {Path(folder) / 'report.md'}, results.json and figures/")
    return written


def _stored_as_is(output, folder: Path):
    return output


def _store_cells(cells: dict, folder: Path) -> dict:
    stored = _cell_results(cells)
    _cell_figures(cells, stored, folder / "figures")
    return stored


def _store_genes(genes: pd.DataFrame, folder: Path) -> list[dict]:
    return genes.replace({np.nan: None}).to_dict(orient="records")


def _store_programs(programs: dict, folder: Path) -> dict:
    if "adata" in programs:
        from .. import pl

        heatmap = pl.program_heatmap(programs["adata"], title="Kang PBMC: text programs × cell types")
        save_figure(heatmap, folder / "figures", "programs_heatmap", dpi=110)
    return {k: v for k, v in programs.items() if k != "adata"}


def _store_classifier(classifier: dict, folder: Path) -> dict:
    save_figure(_learning_curves(classifier), folder / "figures", "classifier_learning_curves", dpi=110)
    return classifier


def _store_knowledge(knowledge: dict, folder: Path) -> dict:
    from .knowledge import knowledge_figure

    save_figure(knowledge_figure(knowledge), folder / "figures", "knowledge_report", dpi=110)
    return knowledge


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
    """The README's results block: each section of ``results`` in registry order (headline cell
    metrics and where textcell stands, the gene tasks beside the controls and GenePT's numbers,
    annotation accuracy, goal lines of the other benchmarks)."""
    lines = []
    for key, section in SECTIONS.items():
        if key in results:
            lines += ["", *section.call("readme", results[key])]
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
    parts += [section.call("markdown", results[key]) for key, section in SECTIONS.items() if key in results]
    return "\n".join(parts)


def _genes_markdown(genes: list[dict]) -> str:
    from .genes import summary_table

    frame = pd.DataFrame(genes)
    return "## Gene tasks\n\n" + summary_table(frame) + "\n" + "\n".join(gene_goal_lines(frame)) + "\n"


def _genes_readme(genes: list[dict]) -> list[str]:
    from .genes import summary_table

    frame = pd.DataFrame(genes)
    return [summary_table(frame).rstrip("\n"), "", *gene_goal_lines(frame)]


def _classifier_markdown(classifier: dict) -> str:
    from .classifier import classifier_markdown

    return classifier_markdown(classifier) + "\n![learning curves](figures/classifier_learning_curves.png)\n"


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
