"""Classifiers on textcell cell embeddings, with donor-level splits and learning curves.

For each task the cells are embedded once (textcell's defaults: the default gene embedding,
``embed_cells`` with its default options); then for every held-out donor
(:func:`textcell.bench.splits.leave_one_group_out`: no donor on both sides), training fraction and
seed, a stratified random ``fraction`` of the training donors' cells trains

- ``knn``: k-nearest neighbours, the reference: k = 15, or the size of the smallest training class
  if smaller (with k as large as the training set, kNN would only vote for the majority class);
- ``logreg``: :class:`textcell.tl.CellClassifier` ``"logreg"``;
- ``mlp``: :class:`textcell.tl.CellClassifier` ``"mlp"`` (GenePT's two-layer MLP),

all on the same embedding, and each is scored on the held-out donor's cells (accuracy, macro-F1).
A seed's score is the mean over held-out donors; every number is the mean ± sd over seeds.

Tasks: Kang PBMC ``cell_type`` holding out each of its 5 donors, and Kang IFN-β ``condition``
(ctrl vs stim) holding out each donor: its samples are ``ctrl101``/``stim101`` and
``ctrl107``/``stim107``, so the donor is the sample name without the condition; holding out a
single *sample* would leave the same donor's other sample in training.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import anndata as ad
import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.neighbors import KNeighborsClassifier

from .._defaults import DEFAULT_MODEL, DEFAULT_VIEW
from .._progress import progress
from ..datasets import shared_file
from ..errors import InputError
from .cells import prepare
from .splits import leave_one_group_out, subsample
from .stats import beats, format_summary, summarize

logger = logging.getLogger("textcell")
FRACTIONS = (0.01, 0.05, 0.2, 1.0)
SEEDS = range(5)
MODELS = ("knn", "logreg", "mlp")
N_NEIGHBORS = 15


@dataclass(frozen=True)
class ClassifierTask:
    """A dataset, the label to predict and the obs column (or function of obs) giving donors."""

    name: str
    path: str
    label: str
    donor: str | Callable

    def load(self) -> tuple[ad.AnnData, np.ndarray, np.ndarray]:
        adata = ad.read_h5ad(shared_file(self.path))
        if self.label not in adata.obs:
            raise InputError(f"{self.name}: obs has no column {self.label!r}; columns: {list(adata.obs)}.")
        donors = self.donor(adata.obs) if callable(self.donor) else adata.obs[self.donor]
        return adata, adata.obs[self.label].astype(str).to_numpy(), np.asarray(donors).astype(str)


def donor_from_sample(obs) -> np.ndarray:
    """``ctrl101`` → ``101``: the sample name without its condition."""
    return np.array(
        [str(s).replace(str(c), "", 1) for s, c in zip(obs["sample"], obs["condition"], strict=True)]
    )


TASKS = {
    "kang_pbmc": ClassifierTask("kang_pbmc", "cells/kang2018_pbmc.h5ad", "cell_type", "donor"),
    "kang_ifnb": ClassifierTask(
        "kang_ifnb", "cells/kang2018_ctrl_vs_ifnb.h5ad", "condition", donor_from_sample
    ),
}


def embed(adata: ad.AnnData, *, model=DEFAULT_MODEL) -> np.ndarray:
    """textcell's default cell embedding of the prepared data."""
    from .. import tl

    work = ad.AnnData(adata.X, obs=adata.obs[[]], var=adata.var[["highly_variable"]])
    tl.embed_genes(work, model=model, view=DEFAULT_VIEW)
    tl.embed_cells(work)
    return work.obsm["X_textcell"]


def fit_predict(name: str, x_train, y_train, x_test, seed: int) -> np.ndarray:
    """Predictions of one model (``knn``, ``logreg``, ``mlp``) trained on the training cells."""
    if name == "knn":
        k = max(1, min(N_NEIGHBORS, int(np.unique(y_train, return_counts=True)[1].min())))
        return KNeighborsClassifier(n_neighbors=k).fit(x_train, y_train).predict(x_test)
    from ..tl import CellClassifier

    return CellClassifier(name, seed=seed).fit(x_train, y_train).predict(x_test)


def learning_curves(
    embedding: np.ndarray, labels, donors, *, fractions=FRACTIONS, seeds=SEEDS, models=MODELS
) -> dict:
    """``{model: {fraction: {"accuracy": [per seed], "macro_f1": [...], "per_fold": {...}}}}`` and
    the mean number of training cells per fraction."""
    from threadpoolctl import threadpool_limits

    labels = np.asarray(labels)
    splits = leave_one_group_out(donors)
    scores = {
        m: {str(f): {"accuracy": [], "macro_f1": [], "per_fold": []} for f in fractions} for m in models
    }
    n_train = {str(f): [] for f in fractions}
    steps = [(f, s) for f in fractions for s in seeds]
    with threadpool_limits(1):
        for fraction, seed in progress(steps, desc="learning curves", unit="run"):
            folds = {m: [] for m in models}
            for split in splits:
                train = subsample(split.train, labels, fraction, seed=seed)
                n_train[str(fraction)].append(len(train))
                for name in models:
                    predicted = fit_predict(
                        name, embedding[train], labels[train], embedding[split.test], seed
                    )
                    truth = labels[split.test]
                    folds[name].append(
                        (accuracy_score(truth, predicted), f1_score(truth, predicted, average="macro"))
                    )
            for name, values in folds.items():
                entry = scores[name][str(fraction)]
                entry["accuracy"].append(float(np.mean([a for a, _ in values])))
                entry["macro_f1"].append(float(np.mean([f for _, f in values])))
                entry["per_fold"].append([[float(a), float(f)] for a, f in values])
    return {
        "scores": scores,
        "n_train": {f: float(np.mean(v)) for f, v in n_train.items()},
        "held_out": [s.name for s in splits],
    }


def classifier_benchmark(
    tasks=tuple(TASKS), *, fractions=FRACTIONS, seeds=SEEDS, model=DEFAULT_MODEL
) -> dict:
    """Run every task; returns a JSON-able dict (see :func:`classifier_markdown`)."""
    unknown = [t for t in tasks if isinstance(t, str) and t not in TASKS]
    if unknown:
        raise InputError(f"Unknown task(s) {unknown}; choose from {', '.join(TASKS)}.")
    results = {
        "config": {
            "embedding": f"textcell defaults ({model}, {DEFAULT_VIEW} view, weighted, idf, center)",
            "fractions": list(fractions),
            "seeds": list(seeds),
            "models": list(MODELS),
            "knn_neighbors": N_NEIGHBORS,
        },
        "tasks": {},
    }
    for task in tasks:
        task = TASKS[task] if isinstance(task, str) else task
        adata, labels, donors = task.load()
        adata = prepare(adata)
        embedding = embed(adata, model=model)
        curves = learning_curves(embedding, labels, donors, fractions=fractions, seeds=seeds)
        results["tasks"][task.name] = {
            "label": task.label,
            "n_cells": int(adata.n_obs),
            "classes": sorted(set(labels)),
            "donors": sorted(set(donors)),
            "n_train": curves["n_train"],
            "results": {
                name: {
                    fraction: {
                        "accuracy": summarize(entry["accuracy"]),
                        "macro_f1": summarize(entry["macro_f1"]),
                        "scores": entry,
                    }
                    for fraction, entry in by_fraction.items()
                }
                for name, by_fraction in curves["scores"].items()
            },
        }
    return results


def _verdict(a: dict, b: dict) -> str:
    if beats(a, b):
        return "beats it by more than the spread"
    if beats(b, a):
        return "is below it by more than the spread"
    return "is within the spread of it (no clear difference)"


def classifier_goal_lines(results: dict, metric: str = "accuracy") -> list[str]:
    """Per task and classifier: against kNN on the same embedding at the smallest fraction."""
    lines = []
    for name, task in results["tasks"].items():
        smallest = min(task["n_train"], key=float)
        knn = task["results"]["knn"][smallest][metric]
        for model in ("logreg", "mlp"):
            ours = task["results"][model][smallest][metric]
            lines.append(
                f"- {name} ({task['label']}), {float(smallest):.0%} of the training cells "
                f"(~{task['n_train'][smallest]:.0f} cells): {model} {format_summary(ours)} vs kNN "
                f"{format_summary(knn)} ({metric}); {model} {_verdict(ours, knn)}."
            )
    return lines


def classifier_markdown(results: dict) -> str:
    config = results["config"]
    out = [
        "## Classifiers on cell embeddings (donor held out)\n",
        f"Embedding: {config['embedding']}. Each held-out donor's cells are the test set; a stratified "
        f"random fraction of the other donors' cells trains kNN (k = {config['knn_neighbors']}), "
        "logistic regression and the two-layer MLP on the same embedding (kNN's k is capped at the "
        "smallest training class). Mean ± sd over seeds "
        f"{config['seeds']} (a seed's score is the mean over held-out donors).\n",
        *classifier_goal_lines(results),
        "",
    ]
    for name, task in results["tasks"].items():
        fractions = list(task["n_train"])
        out.append(
            f"### {name}: `{task['label']}` ({task['n_cells']:,} cells; "
            f"classes {', '.join(task['classes'])}; "
            f"donors held out one at a time: {', '.join(task['donors'])})\n"
        )
        for metric in ("accuracy", "macro_f1"):
            out.append(
                f"| {metric} | "
                + " | ".join(f"{float(f):.0%} (~{task['n_train'][f]:.0f} cells)" for f in fractions)
                + " |"
            )
            out.append("|---" * (1 + len(fractions)) + "|")
            for model, by_fraction in task["results"].items():
                out.append(
                    f"| {model} | "
                    + " | ".join(format_summary(by_fraction[f][metric]) for f in fractions)
                    + " |"
                )
            out.append("")
    return "\n".join(out) + "\n"
