"""Perturbation benchmark: every model beside the train-mean baseline, with the spread.

* Papalexi 2021 (THP-1 ECCITE-seq, 25 CRISPR knockouts): leave-one-perturbation-out; each
  knockout is predicted by models fitted on the other 24 (and the control cells).
* Kang 2018 (PBMC, IFN-β): one cell type held out at a time; its response is predicted from
  the other four types' responses and its own control cells. The stimulation is named by its
  gene, IFNB1, for the embedding models.

A model "beats" train-mean on a metric when its mean is better by more than the larger of the
two standard deviations over folds (:func:`textcell.bench.stats.beats`); the paired difference
per fold is reported beside it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version

import anndata as ad
import numpy as np

from .._progress import progress
from ..datasets._shared import shared_file
from ..perturb import PerturbationModel, perturbation_metrics, top_de_genes
from ..perturb.data import log_expression
from ..perturb.metrics import HIGHER_IS_BETTER, METRIC_LABELS, METRICS
from .stats import format_summary, summarize

logger = logging.getLogger("textcell")

PAPALEXI = "cells/papalexi2021_thp1_crispr.h5ad"
KANG = "cells/kang2018_ctrl_vs_ifnb.h5ad"
BASELINE = "train-mean"
HEADLINE = "pearson_delta_de20"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    method: str
    embedding: str | None = None
    options: Mapping | None = None

    def build(self, seed: int) -> PerturbationModel:
        kwargs = dict(self.options or {})
        if self.embedding is not None:
            kwargs["embedding"] = self.embedding
        return PerturbationModel(self.method, seed=seed, **kwargs)


def papalexi_models(scouter: Mapping | None = None) -> list[ModelSpec]:
    return [
        ModelSpec(BASELINE, "train_mean"),
        ModelSpec("ridge (MiniLM)", "ridge", "all-MiniLM-L6-v2"),
        ModelSpec("kNN (MiniLM)", "knn", "all-MiniLM-L6-v2"),
        ModelSpec("ridge (TF-IDF)", "ridge", "tfidf"),
        ModelSpec("kNN (TF-IDF)", "knn", "tfidf"),
        ModelSpec("ridge (random vectors, control)", "ridge", "random"),
        ModelSpec("scouter (MiniLM)", "scouter", "all-MiniLM-L6-v2", {"scouter": dict(scouter or {})}),
    ]


def kang_models(scouter: Mapping | None = None) -> list[ModelSpec]:
    return [
        ModelSpec(BASELINE, "train_mean"),
        ModelSpec("scouter (MiniLM)", "scouter", "all-MiniLM-L6-v2", {"scouter": dict(scouter or {})}),
    ]


def _log_adata(adata: ad.AnnData) -> ad.AnnData:
    """The data with log-normalised dense X (normalised once, not in every fold)."""
    expression, _ = log_expression(adata)
    return ad.AnnData(expression, obs=adata.obs.copy(), var=adata.var[[]].copy())


def _fold(
    specs: Sequence[ModelSpec],
    seeds: Sequence[int],
    fit: Callable[[PerturbationModel], PerturbationModel],
    predict: Callable[[PerturbationModel], np.ndarray],
    truth: tuple[np.ndarray, np.ndarray, np.ndarray],
    seconds: dict[str, list[float]],
) -> dict[str, dict[str, float]]:
    observed, control, de = truth
    out = {}
    for spec in specs:
        runs = []
        for seed in seeds if spec.method == "scouter" else seeds[:1]:
            model = fit(spec.build(seed))
            seconds.setdefault(spec.name, []).append(model.training["seconds"])
            runs.append(perturbation_metrics(predict(model), observed, control, de))
        out[spec.name] = {m: float(np.mean([r[m] for r in runs])) for m in METRICS}
    return out


def leave_one_perturbation_out(
    adata: ad.AnnData,
    specs: Sequence[ModelSpec],
    *,
    condition_key: str = "perturbation",
    control: str = "control",
    seeds: Sequence[int] = (0,),
    conditions: Sequence[str] | None = None,
) -> dict:
    """Fit every model without one condition, predict it, score it; for each condition."""
    data = _log_adata(adata)
    labels = data.obs[condition_key].astype(str).to_numpy()
    held_out = list(conditions or [c for c in dict.fromkeys(labels) if c != control])
    control_cells = data.X[labels == control]
    folds, seconds = {}, {}
    for condition in progress(held_out, desc="leave-one-perturbation-out", unit="fold"):
        cells = data.X[labels == condition]
        truth = (cells.mean(0), control_cells.mean(0), top_de_genes(cells, control_cells))
        train = data[labels != condition]
        folds[condition] = _fold(
            specs,
            seeds,
            lambda m, train=train: m.fit(train, condition_key=condition_key, control=control),
            lambda m, condition=condition: m.predict([condition]).to_numpy()[0],
            truth,
            seconds,
        )
    return _summaries(folds, specs, seconds, seeds)


def held_out_context(
    adata: ad.AnnData,
    specs: Sequence[ModelSpec],
    *,
    context_key: str = "cell_type",
    condition_key: str = "condition",
    control: str = "ctrl",
    stimulus: str = "stim",
    stimulus_gene: str = "IFNB1",
    seeds: Sequence[int] = (0,),
) -> dict:
    """Hold out each context (cell type): predict its stimulated mean from its control cells."""
    data = _log_adata(adata)
    labels = data.obs[condition_key].astype(str).to_numpy()
    contexts = data.obs[context_key].astype(str).to_numpy()
    folds, seconds = {}, {}
    for context in progress(list(dict.fromkeys(contexts)), desc="held-out cell type", unit="fold"):
        here = contexts == context
        stim, ctrl = data.X[here & (labels == stimulus)], data.X[here & (labels == control)]
        truth = (stim.mean(0), ctrl.mean(0), top_de_genes(stim, ctrl))
        train, query = data[~here], data[here & (labels == control)]
        folds[context] = _fold(
            specs,
            seeds,
            lambda m, train=train: m.fit(
                train,
                condition_key=condition_key,
                control=control,
                context_key=context_key,
                condition_genes={stimulus: stimulus_gene},
            ),
            lambda m, query=query: m.predict([stimulus], adata=query).to_numpy()[0],
            truth,
            seconds,
        )
    return _summaries(folds, specs, seconds, seeds)


def _summaries(folds: dict, specs: Sequence[ModelSpec], seconds: dict, seeds: Sequence[int]) -> dict:
    names = [s.name for s in specs]
    models = {}
    for name in names:
        scores = {m: [folds[f][name][m] for f in folds] for m in METRICS}
        entry = {"scores": scores, "summary": {m: summarize(v) for m, v in scores.items()}}
        if name != BASELINE:
            entry["versus_train_mean"] = {}
            for metric in METRICS:
                sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
                base = [folds[f][BASELINE][metric] for f in folds]
                gain = [sign * (a - b) for a, b in zip(scores[metric], base, strict=True)]
                ours, theirs = entry["summary"][metric], summarize(base)
                entry["versus_train_mean"][metric] = {
                    "gain": summarize(gain),
                    "folds_better": int(sum(g > 0 for g in gain)),
                    "beats": bool(sign * (ours["mean"] - theirs["mean"]) > max(ours["sd"], theirs["sd"])),
                }
        entry["fit_seconds"] = summarize(seconds[name])
        models[name] = entry
    return {"folds": list(folds), "seeds": list(seeds), "models": models}


def _torch_threads_now() -> int:
    from .._torch import require_torch

    return int(require_torch().get_num_threads())


def perturbation_benchmark(
    *,
    tasks: Sequence[str] = ("papalexi", "kang"),
    papalexi_seeds: Sequence[int] = (0,),
    kang_seeds: Sequence[int] = (0, 1, 2),
    scouter: Mapping | None = None,
    conditions: Sequence[str] | None = None,
) -> dict:
    """Run the benchmark on the shared data; a JSON-able dict of every number."""
    start = time.perf_counter()
    results: dict = {"textcell_version": version("textcell"), "tasks": {}}
    if "papalexi" in tasks:
        adata = ad.read_h5ad(shared_file(PAPALEXI))
        full = PerturbationModel("scouter", embedding="all-MiniLM-L6-v2", seed=0, scouter=scouter)
        full.fit(adata)  # the whole data from raw counts: the stated training time
        renamed = full.resolution[full.resolution["route"] != "symbol"]
        task = leave_one_perturbation_out(
            adata, papalexi_models(scouter), seeds=papalexi_seeds, conditions=conditions
        )
        task.update(
            dataset="Papalexi 2021 THP-1 ECCITE-seq (25 CRISPR knockouts)",
            design="leave-one-perturbation-out",
            n_cells=int(adata.n_obs),
            n_genes=int(adata.n_vars),
            n_conditions=len(full.conditions),
            renamed=renamed[["name", "symbol", "route"]].to_dict(orient="records"),
            scouter_full_fit={
                "seconds": full.training["seconds"],
                "epochs": full.training["best_epoch"],
                "validation": full.training["validation"],
                "torch_threads": _torch_threads_now(),
            },
            not_applicable={"additive": "no combinations in the data"},
        )
        results["tasks"]["papalexi"] = task
    if "kang" in tasks:
        adata = ad.read_h5ad(shared_file(KANG))
        task = held_out_context(adata, kang_models(scouter), seeds=kang_seeds)
        task.update(
            dataset="Kang 2018 PBMC, control vs IFN-β (5 cell types)",
            design="held-out cell type",
            n_cells=int(adata.n_obs),
            n_genes=int(adata.n_vars),
            not_applicable={
                "additive": "no combinations",
                "ridge, kNN": "one training perturbation (IFNB1): they reduce to train-mean",
            },
        )
        results["tasks"]["kang"] = task
    results["wall_seconds"] = time.perf_counter() - start
    return results


# ---------------------------------------------------------------------------- report


def goal_lines(results: dict) -> list[str]:
    """Plain statements: does any model beat train-mean on Pearson-delta (top-20 DE genes)?"""
    lines = []
    for key, task in results["tasks"].items():
        base = task["models"][BASELINE]["summary"][HEADLINE]
        winners = []
        for name, entry in task["models"].items():
            if name == BASELINE:
                continue
            versus = entry["versus_train_mean"][HEADLINE]
            ours = entry["summary"][HEADLINE]
            verdict = "beats it by more than the spread" if versus["beats"] else "does not beat it"
            winners += [name] if versus["beats"] else []
            lines.append(
                f"- {key}: {name} {format_summary(ours)} vs train-mean {format_summary(base)}: {verdict} "
                f"(paired gain {format_summary(versus['gain'])}, better on {versus['folds_better']} of "
                f"{len(task['folds'])} folds)."
            )
        lines.append(
            f"- **{key}: "
            + (f"{', '.join(winners)} beat(s) train-mean" if winners else "nothing beats train-mean")
            + " on Pearson-delta (top-20 DE) by more than the spread.**"
        )
    return lines


def perturb_markdown(results: dict) -> str:
    """The report section of a :func:`perturbation_benchmark` run."""
    out = [
        "## Perturbation responses\n",
        f"Wall time {results['wall_seconds']:.0f} s on this "
        "machine. Every number: mean ± sd over held-out folds (Scouter: averaged over its seeds in "
        "each fold first). Metrics are on shifts from the control mean; DE genes are each "
        "condition's top 20 by |Welch t| against control; normalised MSE divides by the error of "
        "predicting no change (lower is better).\n",
        "### Where we stand\n",
        *goal_lines(results),
        "",
    ]
    for key, task in results["tasks"].items():
        out.append(
            f"### {key}: {task['dataset']}\n\n{task['n_cells']:,} cells × {task['n_genes']:,} genes; "
            f"{task['design']} over {len(task['folds'])} folds ({', '.join(task['folds'])}); "
            f"seeds {task['seeds']}.\n"
        )
        out.append("| model | " + " | ".join(METRIC_LABELS[m] for m in METRICS) + " | fit time (s) |")
        out.append("|---" * (len(METRICS) + 2) + "|")
        for name, entry in task["models"].items():
            cells = " | ".join(format_summary(entry["summary"][m]) for m in METRICS)
            out.append(f"| {name} | {cells} | {format_summary(entry['fit_seconds'], 1)} |")
        out.append("")
        for what, why in task.get("not_applicable", {}).items():
            out.append(f"- {what}: not run ({why}).")
        for row in task.get("renamed", []):
            out.append(f"- perturbed gene {row['name']} resolved to {row['symbol']} ({row['route']}).")
        if "scouter_full_fit" in task:
            fit = task["scouter_full_fit"]
            out.append(
                f"- Scouter-style model fitted on all of {key} (raw counts, all "
                f"{task['n_conditions']} perturbations): {fit['seconds']:.1f} s on "
                f"{fit['torch_threads']} torch thread(s), {fit['epochs']} epochs ({fit['validation']})."
            )
        out.append("")
    return "\n".join(out)
