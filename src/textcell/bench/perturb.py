"""Perturbation benchmark: every model beside the train-mean baseline, with the spread.

* Papalexi 2021 (THP-1 ECCITE-seq, 25 CRISPR knockouts): leave-one-perturbation-out; each
  knockout is predicted by models fitted on the other 24 (and the control cells).
* Kang 2018 (PBMC, IFN-β): one cell type held out at a time; its response is predicted from
  the other four types' responses and its own control cells. The stimulation is named by its
  gene, IFNB1, for the embedding models.

The control cells are split once, at random (``control_seed``, within each cell type): the
models see one half (fitting, and the cells a prediction starts from); the held-out condition's
observed shift and its top-20 DE genes use only the other half. Sharing control cells would let
the DE genes pick genes whose control mean is noisy and let every training shift correlate with
the truth through that noise. A prediction is scored by its shift from the control mean it
started from.

A model "beats" train-mean on a metric when its paired gain (model minus train-mean in each
fold; train-mean minus model for normalised MSE) has a mean above its sd over folds
(:func:`textcell.bench.stats.paired_beats`).

On Papalexi, reference rows (not models: they use the held-out cells) show the ceiling: half
of a held-out knockout's cells, or the single training knockout whose shift correlates best with
that half, predicts the other half (scored against the truth's control cells), over random
halvings.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version

import anndata as ad
import numpy as np
import pandas as pd

from .._progress import progress
from ..datasets._shared import shared_file
from ..perturb import PerturbationModel, perturbation_metrics, top_de_genes
from ..perturb.data import log_expression
from ..perturb.metrics import HIGHER_IS_BETTER, METRIC_LABELS, METRICS, pearson
from .stats import format_summary, paired_beats, summarize

logger = logging.getLogger("textcell")

PAPALEXI = "cells/papalexi2021_thp1_crispr.h5ad"
KANG = "cells/kang2018_ctrl_vs_ifnb.h5ad"
BASELINE = "train-mean"
HEADLINE = "pearson_delta_de20"
CEILING = "split-half noise ceiling"
ORACLE = "best single training perturbation, chosen on half A"
HALF_BASELINE = "train-mean, scored on half B"
NO_EFFECT = 0.2  # a noise ceiling below this: the knockout's shift does not replicate between halves


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
        ModelSpec("similar cell types (no text)", "similar_contexts"),
        ModelSpec("scouter (MiniLM)", "scouter", "all-MiniLM-L6-v2", {"scouter": dict(scouter or {})}),
    ]


def _log_adata(adata: ad.AnnData) -> ad.AnnData:
    """The data with log-normalised dense X (normalised once, not in every fold)."""
    expression, _ = log_expression(adata)
    return ad.AnnData(expression, obs=adata.obs.copy(), var=adata.var[[]].copy())


def truth_controls(is_control: np.ndarray, groups: np.ndarray, seed: int) -> np.ndarray:
    """Mask of the control cells kept for the truth: a seeded random half of each group's."""
    rng = np.random.default_rng(seed)
    kept = np.zeros(len(is_control), dtype=bool)
    for group in pd.unique(groups):
        rows = rng.permutation(np.flatnonzero(is_control & (groups == group)))
        kept[rows[len(rows) // 2 :]] = True
    return kept


def _predicted_shift(model: PerturbationModel, condition: str, **kwargs) -> np.ndarray:
    """The prediction's shift from the control mean it started from."""
    predicted, control = model.predict_with_control([condition], **kwargs)
    return predicted.to_numpy()[0] - control.to_numpy()


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
            runs.append(perturbation_metrics(control + predict(model), observed, control, de))
        out[spec.name] = {m: float(np.mean([r[m] for r in runs])) for m in METRICS}
    return out


def _references(
    cells: np.ndarray,
    seen_mean: np.ndarray,
    truth_control: np.ndarray,
    train_shifts: np.ndarray,
    rng: np.random.Generator,
    halvings: int,
) -> dict[str, dict[str, float]]:
    """Scores that use the held-out cells, averaged over random halvings of them: half A's shift
    (from the models' control mean), the training shift closest to it (Pearson, all genes) and
    the train-mean, each scored on half B against the truth's control cells."""
    control = truth_control.mean(0, dtype=np.float64)
    runs = []
    for _ in range(halvings):
        order = rng.permutation(len(cells))
        half_a, half_b = cells[order[: len(cells) // 2]], cells[order[len(cells) // 2 :]]
        shift_a = half_a.mean(0, dtype=np.float64) - seen_mean
        closest = int(np.argmax([pearson(shift, shift_a) for shift in train_shifts]))
        observed, de = half_b.mean(0, dtype=np.float64), top_de_genes(half_b, truth_control)
        predictions = {CEILING: shift_a, ORACLE: train_shifts[closest], HALF_BASELINE: train_shifts.mean(0)}
        runs.append(
            {k: perturbation_metrics(control + p, observed, control, de) for k, p in predictions.items()}
        )
    return {k: {m: float(np.mean([r[k][m] for r in runs])) for m in METRICS} for k in runs[0]}


def leave_one_perturbation_out(
    adata: ad.AnnData,
    specs: Sequence[ModelSpec],
    *,
    condition_key: str = "perturbation",
    control: str = "control",
    seeds: Sequence[int] = (0,),
    conditions: Sequence[str] | None = None,
    control_seed: int = 0,
    halvings: int = 10,
) -> dict:
    """Fit every model without one condition, predict it, score it; for each condition.

    The truth uses the half of the control cells that ``control_seed`` keeps from the models;
    ``halvings`` random halvings of each held-out condition's cells give the reference rows.
    """
    data = _log_adata(adata)
    labels = data.obs[condition_key].astype(str).to_numpy()
    perturbations = [c for c in dict.fromkeys(labels) if c != control]
    held_out = list(conditions or perturbations)
    truth_only = truth_controls(labels == control, np.zeros(len(labels)), control_seed)
    seen, truth_control = data[~truth_only].copy(), data.X[truth_only]
    seen_mean = data.X[(labels == control) & ~truth_only].mean(0, dtype=np.float64)
    shifts = {c: data.X[labels == c].mean(0, dtype=np.float64) - seen_mean for c in perturbations}
    rng = np.random.default_rng(control_seed)
    folds, references, seconds = {}, {}, {}
    for condition in progress(held_out, desc="leave-one-perturbation-out", unit="fold"):
        cells = data.X[labels == condition]
        train = seen[seen.obs[condition_key].astype(str).to_numpy() != condition]
        folds[condition] = _fold(
            specs,
            seeds,
            lambda m, train=train: m.fit(train, condition_key=condition_key, control=control),
            lambda m, condition=condition: _predicted_shift(m, condition),
            (
                cells.mean(0, dtype=np.float64),
                truth_control.mean(0, dtype=np.float64),
                top_de_genes(cells, truth_control),
            ),
            seconds,
        )
        train_shifts = np.stack([s for c, s in shifts.items() if c != condition])
        references[condition] = _references(cells, seen_mean, truth_control, train_shifts, rng, halvings)
    result = _summaries(folds, specs, seconds, seeds)
    result["control_seed"] = control_seed
    result["halvings"] = halvings
    result["references"] = _compare(references, [CEILING, ORACLE, HALF_BASELINE], HALF_BASELINE)
    return result


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
    control_seed: int = 0,
) -> dict:
    """Hold out each context (cell type): predict its stimulated mean from the models' half of its
    control cells; the truth uses the other half (split once by ``control_seed``)."""
    data = _log_adata(adata)
    labels = data.obs[condition_key].astype(str).to_numpy()
    contexts = data.obs[context_key].astype(str).to_numpy()
    truth_only = truth_controls(labels == control, contexts, control_seed)
    folds, seconds = {}, {}
    for context in progress(list(dict.fromkeys(contexts)), desc="held-out cell type", unit="fold"):
        here = contexts == context
        stim, ctrl = data.X[here & (labels == stimulus)], data.X[here & truth_only]
        truth = (stim.mean(0, dtype=np.float64), ctrl.mean(0, dtype=np.float64), top_de_genes(stim, ctrl))
        train, query = data[~here & ~truth_only], data[here & (labels == control) & ~truth_only]
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
            lambda m, query=query: _predicted_shift(m, stimulus, adata=query),
            truth,
            seconds,
        )
    result = _summaries(folds, specs, seconds, seeds)
    result["control_seed"] = control_seed
    return result


def _compare(folds: dict, names: Sequence[str], baseline: str) -> dict:
    """Per name: the scores over folds, their summaries and, beside ``baseline``, the paired gain."""
    out = {}
    for name in names:
        scores = {m: [folds[f][name][m] for f in folds] for m in METRICS}
        entry = {"scores": scores, "summary": {m: summarize(v) for m, v in scores.items()}}
        if name != baseline:
            entry["versus_train_mean"] = {}
            for metric in METRICS:
                sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
                base = [folds[f][baseline][metric] for f in folds]
                gain = [sign * (a - b) for a, b in zip(scores[metric], base, strict=True)]
                entry["versus_train_mean"][metric] = {
                    "gain": summarize(gain),
                    "folds_better": int(sum(g > 0 for g in gain)),
                    "beats": paired_beats(summarize(gain)),
                }
        out[name] = entry
    return out


def _summaries(folds: dict, specs: Sequence[ModelSpec], seconds: dict, seeds: Sequence[int]) -> dict:
    models = _compare(folds, [s.name for s in specs], BASELINE)
    for name, entry in models.items():
        entry["fit_seconds"] = summarize(seconds[name])
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
    control_seed: int = 0,
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
            adata,
            papalexi_models(scouter),
            seeds=papalexi_seeds,
            conditions=conditions,
            control_seed=control_seed,
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
        task = held_out_context(adata, kang_models(scouter), seeds=kang_seeds, control_seed=control_seed)
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
    """Plain statements: does any model beat train-mean on Pearson-delta (top-20 DE genes), and
    where does the ceiling lie?"""
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
            + " on Pearson-delta (top-20 DE) by more than the spread of the paired gain.**"
        )
        if "references" in task:
            lines.append(_ceiling_line(key, task))
    return lines


def _ceiling_line(key: str, task: dict) -> str:
    refs, n = task["references"], len(task["folds"])
    ceiling, oracle, base = (refs[name]["summary"][HEADLINE] for name in (CEILING, ORACLE, HALF_BASELINE))
    gains = {name: refs[name]["versus_train_mean"][HEADLINE] for name in (CEILING, ORACLE)}
    flat = sum(score < NO_EFFECT for score in refs[CEILING]["scores"][HEADLINE])
    if not gains[CEILING]["beats"]:
        verdict = (
            "not even the held-out cells themselves beat train-mean by more than the spread, so no "
            "model can be expected to meet the goal on this data"
        )
    elif not gains[ORACLE]["beats"]:
        verdict = (
            "only the held-out cells themselves beat train-mean by more than the spread, so the goal "
            "is out of reach for any model that predicts from the training perturbations' shifts"
        )
    else:
        verdict = (
            "the best training perturbation beats train-mean by more than the spread, so the goal is "
            "within reach of a model that picks the right one"
        )
    return (
        f"- {key} ceiling (references, not models: half A of each held-out perturbation's cells "
        f"predicts half B): split-half noise ceiling {format_summary(ceiling)}, below {NO_EFFECT} for "
        f"{flat} of {n} perturbations (an effect that does not replicate between halves); best single "
        f"training perturbation, chosen on half A, {format_summary(oracle)}; train-mean scored on "
        f"half B {format_summary(base)}. Paired gains over that train-mean: noise ceiling "
        f"{format_summary(gains[CEILING]['gain'])}, best training perturbation "
        f"{format_summary(gains[ORACLE]['gain'])} (better on {gains[ORACLE]['folds_better']} of {n} "
        f"folds): {verdict}."
    )


def perturb_markdown(results: dict) -> str:
    """The report section of a :func:`perturbation_benchmark` run."""
    out = [
        "## Perturbation responses\n",
        f"Wall time {results['wall_seconds']:.0f} s on this "
        "machine. Every number: mean ± sd over held-out folds (Scouter: averaged over its seeds in "
        "each fold first). The control cells are split once at random (within each cell type): the "
        "models see one half (fitting, and the cells a prediction starts from), the truth uses only "
        "the other. Metrics compare a prediction's shift from the control mean it started from with "
        "the held-out condition's shift from the truth's control cells; DE genes are the condition's "
        "top 20 by |Welch t| against the truth's control cells; normalised MSE divides by the error "
        "of predicting no change (lower is better). A model beats train-mean when its paired gain "
        "over the folds has a mean above its sd.\n",
        "### Where we stand\n",
        *goal_lines(results),
        "",
    ]
    for key, task in results["tasks"].items():
        out.append(
            f"### {key}: {task['dataset']}\n\n{task['n_cells']:,} cells × {task['n_genes']:,} genes; "
            f"{task['design']} over {len(task['folds'])} folds ({', '.join(task['folds'])}); "
            f"seeds {task['seeds']}; control split seed {task['control_seed']}.\n"
        )
        out.append("| model | " + " | ".join(METRIC_LABELS[m] for m in METRICS) + " | fit time (s) |")
        out.append("|---" * (len(METRICS) + 2) + "|")
        for name, entry in task["models"].items():
            cells = " | ".join(format_summary(entry["summary"][m]) for m in METRICS)
            out.append(f"| {name} | {cells} | {format_summary(entry['fit_seconds'], 1)} |")
        for name, entry in task.get("references", {}).items():
            cells = " | ".join(format_summary(entry["summary"][m]) for m in METRICS)
            marker = (
                "reference" if name == HALF_BASELINE else "reference, not a model; uses the held-out cells"
            )
            out.append(f"| *{marker}:* {name} | {cells} | – |")
        out.append("")
        if "references" in task:
            out.append(
                f"- Reference rows: each held-out perturbation's cells are halved at random "
                f"{task['halvings']} times; half A's shift from the models' control mean (the noise "
                "ceiling), or the training perturbation whose shift correlates best with it over all "
                "genes, predicts half B, scored against the truth's control cells on half B's own "
                "top-20 DE genes; train-mean is scored on the same half B."
            )
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
