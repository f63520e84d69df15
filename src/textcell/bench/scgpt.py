"""scGPT pretrained here, with and without gene knowledge, against the cell benchmark's baselines.

Kang PBMC (4 cell types, 5 donors). Donors 1016 and 1488 (2,855 cells) are held out: a compact
scGPT (:class:`~textcell.models.scgpt.train.PretrainConfig`) is pretrained with scGPT's GEP + MVC
objectives on the other three donors' cells (5,829, no labels), its gene tokens starting either
from textcell's default gene vectors (text) or at random (scGPT's start), once per seed. Then:

- zero-shot: every cell is embedded (:func:`~textcell.tl.scgpt_embed`); k-means ARI on the
  held-out donors' cells (10 k-means seeds, k = 4) and label transfer from the training donors'
  cells to the held-out ones (kNN with 15 neighbours and logistic regression, as in
  :mod:`.metrics`; macro F1);
- fine-tuned: a CLS head trained with the whole model on the training donors' labelled cells
  predicts the held-out donors' cells (macro F1).

The baselines of :mod:`.cells` (PCA, GenePT-w as published, textcell's defaults, random gene
vectors) embed all cells (without labels) and are scored the same way. Spread: over pretraining
seeds for scGPT (each value the mean over the 10 k-means seeds), over k-means seeds for the
baselines (their embeddings are deterministic; their transfer scores have no spread).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .stats import beats, format_summary, summarize

logger = logging.getLogger("textcell")

EVAL_DONORS = ("1016", "1488")
KMEANS_SEEDS = range(10)
METRICS = {
    "kmeans_ari": "k-means ARI",
    "knn_macro_f1": "kNN transfer F1",
    "logreg_macro_f1": "LR transfer F1",
    "finetuned_macro_f1": "fine-tuned F1",
}
INITS = {"text": "text genes", "random": "random genes"}


def transfer_scores(embedding: np.ndarray, labels, train, test) -> dict[str, float]:
    """Training donors' cells → held-out donors' cells: kNN and logistic regression."""
    from . import metrics

    out = {}
    for name, model in (
        ("knn", KNeighborsClassifier(n_neighbors=metrics.N_NEIGHBORS)),
        ("logreg", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
    ):
        predicted = model.fit(embedding[train], labels[train]).predict(embedding[test])
        out[f"{name}_macro_f1"] = float(f1_score(labels[test], predicted, average="macro"))
        out[f"{name}_accuracy"] = float(accuracy_score(labels[test], predicted))
    return out


def embedding_scores(embedding: np.ndarray, labels, train, test) -> dict:
    from . import metrics

    ari = metrics.kmeans_scores(embedding[test], labels[test], seeds=KMEANS_SEEDS)["ari"]
    return {"kmeans_ari_per_seed": [float(a) for a in ari], **transfer_scores(embedding, labels, train, test)}


def scgpt_benchmark(
    *,
    seeds=(0, 1, 2),
    pretrain_config=None,
    finetune_config=None,
    threads: int | None = None,
    workdir: str | Path | None = None,
) -> dict:
    """Run the benchmark; returns the results dict that ``write_report(folder, scgpt=...)`` writes."""
    import anndata as ad

    from .. import tl
    from ..models.scgpt.train import FinetuneConfig, PretrainConfig, finetune, predict_logits, pretrain
    from .cells import DATASETS, default_config, embeddings_for, prepare

    pretrain_config = replace(pretrain_config or PretrainConfig(), threads=threads)
    finetune_config = replace(finetune_config or FinetuneConfig(), threads=threads)
    kang = DATASETS["kang_pbmc"].load()
    kang.obs_names_make_unique()
    donors = kang.obs["donor"].astype(str).to_numpy()
    labels = kang.obs["cell_type"].astype(str).to_numpy()
    test = np.isin(donors, EVAL_DONORS)
    train = ~test
    runs: dict[str, list[dict]] = {}
    logger.info("baselines on %d cells", kang.n_obs)
    for name, embedding in embeddings_for(prepare(kang), default_config()).items():
        runs[name] = [embedding_scores(np.asarray(embedding), labels, train, test)]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(workdir) if workdir is not None else Path(scratch)
        for init in INITS:
            for seed in seeds:
                config = replace(pretrain_config, gene_init=init, seed=seed)
                model, log = pretrain(kang[train].copy(), config=config, output=folder / f"{init}-{seed}")
                cells = ad.AnnData(kang.X, obs=kang.obs[[]], var=kang.var[[]])
                tl.scgpt_embed(cells, checkpoint=model, seed=seed, threads=threads)
                scores = embedding_scores(cells.obsm["X_scgpt"], labels, train, test)
                scores.update(pretrain_seconds=log.seconds, pretrain_steps=log.steps, losses=log.losses)
                runs.setdefault(f"scGPT zero-shot ({INITS[init]})", []).append(scores)
                tuned, classes, tune_log = finetune(
                    model,
                    kang[train].copy(),
                    labels_key="cell_type",
                    config=replace(finetune_config, seed=seed),
                )
                logits = predict_logits(tuned, kang[test].copy(), seed=seed, threads=threads)
                predicted = np.asarray(classes)[logits.argmax(axis=1)]
                runs.setdefault(f"scGPT fine-tuned ({INITS[init]})", []).append(
                    {
                        "finetuned_macro_f1": float(f1_score(labels[test], predicted, average="macro")),
                        "finetuned_accuracy": float(accuracy_score(labels[test], predicted)),
                        "finetune_seconds": tune_log.seconds,
                        "losses": tune_log.losses,
                    }
                )
    return {
        "textcell_version": version("textcell"),
        "dataset": "kang_pbmc (cell_type)",
        "split": {
            "held_out_donors": list(EVAL_DONORS),
            "train_cells": int(train.sum()),
            "test_cells": int(test.sum()),
        },
        "seeds": list(seeds),
        "threads": threads if threads is not None else _torch_threads(),
        "pretrain_config": pretrain_config.to_dict(),
        "finetune_config": {**finetune_config.__dict__},
        "runs": runs,
        "summary": summaries(runs),
    }


def _torch_threads() -> int:
    from .._torch import require_torch

    return int(require_torch("scgpt").get_num_threads())


def summaries(runs: dict[str, list[dict]]) -> dict[str, dict]:
    """mean ± sd per method and metric: over k-means seeds for one run (a baseline), over runs
    (pretraining seeds) of the per-run k-means mean otherwise."""
    out = {}
    for method, records in runs.items():
        summary = {}
        for metric in METRICS:
            if metric == "kmeans_ari":
                if "kmeans_ari_per_seed" not in records[0]:
                    continue
                values = (
                    records[0]["kmeans_ari_per_seed"]
                    if len(records) == 1
                    else [np.mean(r["kmeans_ari_per_seed"]) for r in records]
                )
            elif metric in records[0]:
                values = [r[metric] for r in records]
            else:
                continue
            summary[metric] = summarize(values)
        for timing in ("pretrain_seconds", "finetune_seconds"):
            if timing in records[0]:
                summary[timing] = summarize([r[timing] for r in records])
        out[method] = summary
    return out


def goal_lines(results: dict) -> list[str]:
    """Plain statements: text vs random gene tokens, and scGPT-here against PCA."""
    summary = results["summary"]
    lines = []
    pairs = [
        ("scGPT zero-shot", "kmeans_ari"),
        ("scGPT zero-shot", "knn_macro_f1"),
        ("scGPT fine-tuned", "finetuned_macro_f1"),
    ]
    for kind, metric in pairs:
        text = summary[f"{kind} (text genes)"][metric]
        random = summary[f"{kind} (random genes)"][metric]
        verdict = "beats" if beats(text, random) else "does not beat"
        lines.append(
            f"{kind}, {METRICS[metric]}: text-initialised gene tokens {format_summary(text)} vs random "
            f"{format_summary(random)}: text {verdict} random by more than the spread."
        )
    pca = summary["PCA"]
    for kind, metric, pca_metric in (
        ("scGPT zero-shot", "kmeans_ari", "kmeans_ari"),
        ("scGPT zero-shot", "knn_macro_f1", "knn_macro_f1"),
        ("scGPT fine-tuned", "finetuned_macro_f1", "knn_macro_f1"),
    ):
        best = max(INITS.values(), key=lambda i: summary[f"{kind} ({i})"][metric]["mean"])
        ours = summary[f"{kind} ({best})"][metric]
        theirs = pca[pca_metric]
        if beats(ours, theirs):
            where = "above PCA by more than the spread"
        elif beats(theirs, ours):
            where = "below PCA by more than the spread"
        else:
            where = "within the spread of PCA"
        lines.append(
            f"{kind} ({best}), {METRICS[metric]} {format_summary(ours)} vs PCA {METRICS[pca_metric]} "
            f"{format_summary(theirs)}: {where}."
        )
    seconds = summary["scGPT zero-shot (text genes)"]["pretrain_seconds"]
    random_seconds = summary["scGPT zero-shot (random genes)"]["pretrain_seconds"]
    config = results["pretrain_config"]
    lines.append(
        f"Compact pretraining (d_model {config['d_model']}, {config['n_layers']} layers, {config['n_heads']} "
        f"heads, d_hid {config['d_hid']}, {config['n_top_genes']} genes, ≤ {config['max_seq_len']} tokens, "
        f"{config['epochs']} epochs of {results['split']['train_cells']:,} cells) took "
        f"{seconds['mean'] / 60:.1f} ± {seconds['sd'] / 60:.1f} min (text start) and "
        f"{random_seconds['mean'] / 60:.1f} ± {random_seconds['sd'] / 60:.1f} min (random start) on "
        f"{results['threads']} thread(s) of a shared machine."
    )
    return lines


def store(results: dict, folder: Path) -> dict:
    """The ``scgpt`` section of a report folder (:func:`textcell.bench.report.write_report`):
    the results with their goal lines, and two figures."""
    from .. import pl
    from .report import save_figure

    frame = _frame(results["summary"])
    for metric in ("kmeans_ari", "knn_macro_f1"):
        rows = frame[frame["metric"] == metric].rename(columns={"metric": "dataset"})
        rows = rows.assign(dataset=METRICS[metric])
        figure = pl.metric_bars(
            rows, metric=METRICS[metric], title=f"Kang, held-out donors: {METRICS[metric]}"
        )
        save_figure(figure, folder / "figures", f"scgpt_{metric}", dpi=110)
    return {**results, "goal_lines": goal_lines(results)}


def _frame(summary: dict) -> pd.DataFrame:
    rows = []
    for method, metrics in summary.items():
        for metric, values in metrics.items():
            if metric in METRICS:
                rows.append(
                    {"embedding": method, "metric": metric, "mean": values["mean"], "sd": values["sd"]}
                )
    return pd.DataFrame(rows)


def scgpt_markdown(results: dict) -> str:
    split = results["split"]
    config = results["pretrain_config"]
    lines = [
        "## scGPT pretrained here, with gene knowledge",
        "",
        f"Kang PBMC, donors {', '.join(split['held_out_donors'])} held out ({split['test_cells']:,} cells); "
        f"pretraining and fine-tuning on the other donors' {split['train_cells']:,} cells. Seeds "
        f"{results['seeds']}; textcell {results['textcell_version']}. Pretraining config: "
        + ", ".join(f"{k} {v}" for k, v in config.items() if k not in ("gene_init", "seed"))
        + ".",
        "",
        *_table(results["summary"]),
    ]
    lines += ["", *[f"- {line}" for line in results["goal_lines"]], ""]
    lines += [
        "Spread: scGPT rows over pretraining seeds (each k-means value the mean of 10 k-means seeds); "
        "baseline rows over k-means seeds (their transfer scores come from one deterministic embedding). "
        "Figures: `figures/scgpt_kmeans_ari.png`, `figures/scgpt_knn_macro_f1.png`.",
        "",
    ]
    return "\n".join(lines)


def readme_lines(results: dict) -> list[str]:
    """The README's block: the table, then the plain statements."""
    return [*_table(results["summary"]), "", *[f"- {line}" for line in results["goal_lines"]]]


def _table(summary: dict) -> list[str]:
    lines = ["| method | " + " | ".join(METRICS.values()) + " |", "|---|" + "---|" * len(METRICS)]
    for method, values in summary.items():
        cells = [format_summary(values[m]) if m in values else "" for m in METRICS]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines
