"""One evaluation protocol for every perturbation dataset.

A task is a list of :class:`Fold` s: the cells a model is fitted on and the held-out conditions
(:class:`Query`) it must predict. Every fold goes through :func:`evaluate`:

* **Truth on control cells the models never see.** Each query carries its own truth control
  cells, a seeded half of its context's control cells (:func:`truth_controls`); the models are
  fitted on, and predict from, the other half. A prediction is scored by its shift from the
  control mean it started from against the held-out condition's shift from the truth controls.
* **Replication check.** Each held-out condition's cells are halved at random ``halvings``
  times; half A's shift predicts half B (the split-half noise ceiling). Beside it, the training
  condition whose shift correlates best with half A (an oracle), and train-mean, on the same
  half B. A condition *replicates* when its ceiling on Pearson-delta (top-20 DE) is at least
  :data:`REPLICATES`.
* **Paired comparison.** Models are compared condition by condition
  (:func:`~textcell.bench.stats.paired_comparison`: bootstrap 95% CI of the mean paired gain and a
  sign test); a model beats a baseline when the interval lies above zero.
* **Reverse prediction** (optional): every fitted model ranks a candidate set of perturbations
  for the held-out condition's observed shift (:mod:`textcell.perturb.reverse`), beside the
  nearest training shift; hits count in expectation over random tie-breaking.
"""

from __future__ import annotations

import functools
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import anndata as ad
import numpy as np
import pandas as pd

from .._progress import progress
from ..perturb import PerturbationModel, perturbation_metrics, top_de_genes
from ..perturb.data import log_expression, observed_deltas
from ..perturb.metrics import HIGHER_IS_BETTER, METRICS, pearson
from ..perturb.reverse import nearest_shift_ranking, rank_perturbations
from .stats import paired_comparison, summarize

HEADLINE = "pearson_delta_de20"
COMPARED = ("pearson_delta_de20", "pearson_delta")
CEILING = "split-half noise ceiling"
ORACLE = "best single training perturbation, chosen on half A"
HALF_BASELINE = "train-mean, scored on half B"
REFERENCES = (CEILING, ORACLE, HALF_BASELINE)
REPLICATES = 0.2  # split-half ceiling (top-20 DE) at or above this: the condition's effect replicates
NEAREST = "nearest training shift"
TOP_K = (1, 5)
RESIDUAL_METRICS = {
    "residual_pearson": "Pearson of predicted and observed residual from additive (all genes)",
    "residual_recovery": "1 − squared error / additive's squared error (all genes)",
}


@dataclass(frozen=True)
class ModelSpec:
    """A row of the report: a name, a :class:`PerturbationModel` method and its options.

    ``family`` (ridge, kNN, Scouter) and ``knowledge`` (text, GO, random) place a model in the
    knowledge × model grid; baselines have neither.
    """

    name: str
    method: str
    embedding: str | None = None
    options: Mapping | None = None
    family: str | None = None
    knowledge: str | None = None

    def build(self, seed: int) -> PerturbationModel:
        kwargs = dict(self.options or {})
        if self.embedding is not None:
            kwargs["embedding"] = self.embedding
        return PerturbationModel(
            self.method, seed=seed, resolver=_resolver(), missing_vectors="zero", **kwargs
        )


@functools.cache
def _resolver():
    from ..genes import GeneResolver

    return GeneResolver()


@dataclass
class Query:
    """One held-out condition: its cells, its truth control cells and where predictions start."""

    id: str
    condition: str
    cells: np.ndarray
    truth_control: np.ndarray
    start_mean: np.ndarray
    start: ad.AnnData | None = None
    info: dict = field(default_factory=dict)


@dataclass
class Fold:
    name: str
    train: ad.AnnData
    queries: list[Query]
    fit: dict = field(default_factory=dict)


def log_adata(adata: ad.AnnData) -> ad.AnnData:
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


def expected_hits(scores: np.ndarray, target: int, ks: Sequence[int] = TOP_K) -> dict:
    """Whether candidate ``target`` ranks in the top ``k`` by ``scores`` (NaN ranks last), in
    expectation over random ordering of ties, and its expected rank."""
    scores = np.where(np.isfinite(scores), scores, -np.inf)
    above = int((scores > scores[target]).sum())
    tied = int((scores == scores[target]).sum()) - 1
    out = {f"top{k}": float(np.clip((k - above) / (tied + 1), 0.0, 1.0)) for k in ks}
    out["rank"] = above + 1 + tied / 2
    return out


# ---------------------------------------------------------------------------- one fold


def _run_fold(
    fold: Fold,
    specs: Sequence[ModelSpec],
    seeds: Sequence[int],
    halvings: int,
    seed: int,
    candidates: Sequence[str] | None,
    quiet: bool = False,
) -> dict:
    if quiet:  # a worker process: one progress bar, the parent's, is enough
        from .._settings import settings

        settings.progress = False
    cpu = time.process_time()
    truths = {
        q.id: (
            q.cells.mean(0, dtype=np.float64),
            q.truth_control.mean(0, dtype=np.float64),
            top_de_genes(q.cells, q.truth_control),
        )
        for q in fold.queries
    }
    out = {"metrics": {}, "shifts": {}, "seconds": {}, "reverse": {}, "references": {}}
    for spec in specs:
        runs = []
        for run_seed in seeds if spec.method == "scouter" else seeds[:1]:
            model = spec.build(run_seed).fit(fold.train, **fold.fit)
            out["seconds"].setdefault(spec.name, []).append(model.training["seconds"])
            shifts = {}
            for query in fold.queries:
                predicted, control = model.predict_with_control([query.condition], adata=query.start)
                shifts[query.id] = predicted.to_numpy()[0] - control.to_numpy()
            hits = {}
            if candidates is not None:
                hits = {q.id: _reverse(model, q, truths[q.id], candidates) for q in fold.queries}
                if spec.method == "train_mean":  # the training shifts themselves, fitted once
                    out["reverse"][NEAREST] = {
                        q.id: [_reverse(model, q, truths[q.id], candidates, nearest=True)]
                        for q in fold.queries
                    }
            runs.append((shifts, hits))
        out["shifts"][spec.name] = {q.id: [shifts[q.id] for shifts, _ in runs] for q in fold.queries}
        out["metrics"][spec.name] = {
            q.id: _mean_dicts(
                [perturbation_metrics(truths[q.id][1] + s[q.id], *truths[q.id]) for s, _ in runs]
            )
            for q in fold.queries
        }
        if candidates is not None:
            out["reverse"][spec.name] = {q.id: [h[q.id] for _, h in runs] for q in fold.queries}
    train_shifts = _training_shifts(fold)
    for i, query in enumerate(fold.queries):
        rng = np.random.default_rng([seed, i, _stable_hash(query.id)])
        for name, scores in _references(query, train_shifts, rng, halvings).items():
            out["references"].setdefault(name, {})[query.id] = scores
    out["observed"] = {qid: truth[0] - truth[1] for qid, truth in truths.items()}
    out["cpu_seconds"] = time.process_time() - cpu
    return out


def _reverse(model, query: Query, truth, candidates, nearest: bool = False) -> dict:
    observed = truth[0] - truth[1]
    if nearest:
        table = nearest_shift_ranking(model, observed, candidates)
    else:
        table = rank_perturbations(model, observed, candidates, adata=query.start)
    scores = table.set_index("condition")["pearson"].reindex(list(candidates)).to_numpy()
    return expected_hits(scores, list(candidates).index(query.condition))


def _training_shifts(fold: Fold) -> np.ndarray:
    labels = fold.train.obs[fold.fit.get("condition_key", "perturbation")].astype(str).to_numpy()
    context_key = fold.fit.get("context_key")
    contexts = (
        np.full(len(labels), "all")
        if context_key is None
        else fold.train.obs[context_key].astype(str).to_numpy()
    )
    deltas, _ = observed_deltas(
        np.asarray(fold.train.X), labels, contexts, control=fold.fit.get("control", "control")
    )
    return deltas.to_numpy()


def _references(query: Query, train_shifts: np.ndarray, rng, halvings: int) -> dict:
    """Scores that use the held-out cells, averaged over random halvings of them: half A's shift
    (from the models' control mean), the training shift closest to it (Pearson, all genes) and
    train-mean, each scored on half B against the truth's control cells."""
    control = query.truth_control.mean(0, dtype=np.float64)
    cells, runs = query.cells, []
    for _ in range(halvings):
        order = rng.permutation(len(cells))
        half_a, half_b = cells[order[: len(cells) // 2]], cells[order[len(cells) // 2 :]]
        shift_a = half_a.mean(0, dtype=np.float64) - query.start_mean
        closest = int(np.argmax([pearson(shift, shift_a) for shift in train_shifts]))
        observed, de = half_b.mean(0, dtype=np.float64), top_de_genes(half_b, query.truth_control)
        predictions = {CEILING: shift_a, ORACLE: train_shifts[closest], HALF_BASELINE: train_shifts.mean(0)}
        runs.append(
            {k: perturbation_metrics(control + p, observed, control, de) for k, p in predictions.items()}
        )
    return {k: _mean_dicts([r[k] for r in runs]) for k in REFERENCES}


def _mean_dicts(dicts: Sequence[dict]) -> dict:
    return {key: float(np.mean([d[key] for d in dicts])) for key in dicts[0]}


def _stable_hash(text: str) -> int:
    return zlib.crc32(text.encode())


# ---------------------------------------------------------------------------- a whole task


def evaluate(
    folds: Sequence[Fold],
    specs: Sequence[ModelSpec],
    *,
    seeds: Sequence[int] = (0,),
    halvings: int = 10,
    seed: int = 0,
    candidates: Sequence[str] | None = None,
    jobs: int = 1,
    desc: str = "folds",
) -> dict:
    """Run every fold (``jobs`` in parallel processes) and collect the per-condition scores.

    Returns a dict with ``conditions`` (query ids, in fold order), ``info`` per condition,
    ``scores`` ({model: {metric: [per condition]}}), ``references`` (the same for the reference
    rows), ``replicates`` (per condition), ``fit_seconds`` per model, and with ``candidates``,
    ``reverse`` ({ranker: {top1, top5, rank: [per condition]}}); the predicted shifts are kept
    under ``_shifts`` for task-specific scores (not written to JSON).
    """
    if candidates is not None:
        missing = {q.condition for f in folds for q in f.queries} - set(candidates)
        if missing:
            raise ValueError(f"held-out conditions missing from the candidates: {sorted(missing)}")
    runner = functools.partial(
        _run_fold, specs=specs, seeds=list(seeds), halvings=halvings, seed=seed, candidates=candidates
    )
    if jobs > 1:
        from joblib import Parallel, delayed

        outputs = list(
            progress(
                Parallel(n_jobs=jobs, return_as="generator")(delayed(runner)(f, quiet=True) for f in folds),
                desc=desc,
                unit="fold",
                total=len(folds),
            )
        )
    else:
        outputs = [runner(f) for f in progress(list(folds), desc=desc, unit="fold")]
    ids = [q.id for f in folds for q in f.queries]
    names = [s.name for s in specs]

    def gather(key: str, name: str) -> dict[str, list[float]]:
        rows = {qid: row for out in outputs for qid, row in out[key][name].items()}
        return {metric: [rows[qid][metric] for qid in ids] for metric in METRICS}

    result = {
        "conditions": ids,
        "info": {q.id: dict(q.info, condition=q.condition) for f in folds for q in f.queries},
        "seeds": list(seeds),
        "halvings": halvings,
        "models": {
            s.name: {
                "method": s.method,
                "embedding": s.embedding,
                "family": s.family,
                "knowledge": s.knowledge,
            }
            for s in specs
        },
        "scores": {name: gather("metrics", name) for name in names},
        "fit_seconds": {
            name: summarize([t for out in outputs for t in out["seconds"][name]]) for name in names
        },
        "references": {name: gather("references", name) for name in REFERENCES},
        "fold_cpu_seconds": float(sum(out["cpu_seconds"] for out in outputs)),
    }
    result["replicates"] = [score >= REPLICATES for score in result["references"][CEILING][HEADLINE]]
    if candidates is not None:
        rankers = [*names, *([NEAREST] if all(NEAREST in out["reverse"] for out in outputs) else [])]
        result["candidates"] = list(candidates)
        result["reverse"] = {}
        for ranker in rankers:
            rows = {qid: _mean_dicts(runs) for out in outputs for qid, runs in out["reverse"][ranker].items()}
            result["reverse"][ranker] = {
                key: [rows[qid][key] for qid in ids] for key in ("top1", "top5", "rank")
            }
    result["_shifts"] = {
        name: {qid: runs for out in outputs for qid, runs in out["shifts"][name].items()} for name in names
    }
    result["_observed"] = {qid: shift for out in outputs for qid, shift in out["observed"].items()}
    return result


def residual_scores(result: dict, additive: str, conditions: Sequence[str]) -> dict:
    """For combinations whose singles were all seen: how much of the observed residual from the
    additive prediction each model recovers (``RESIDUAL_METRICS``, all genes; averaged over
    seeds). Additive itself scores 0 on both."""
    out = {"conditions": list(conditions)}
    for name, shifts in result["_shifts"].items():
        if name == additive:
            continue
        scores = {metric: [] for metric in RESIDUAL_METRICS}
        for qid in conditions:
            base = result["_shifts"][additive][qid][0]
            truth = result["_observed"][qid] - base
            base_error = float((truth**2).sum())
            per_seed = [
                {
                    "residual_pearson": pearson(shift - base, truth),
                    "residual_recovery": 1.0 - float(((shift - base - truth) ** 2).sum()) / base_error
                    if base_error > 0
                    else float("nan"),
                }
                for shift in shifts[qid]
            ]
            for metric in RESIDUAL_METRICS:
                scores[metric].append(float(np.mean([s[metric] for s in per_seed])))
        out[name] = {
            "scores": scores,
            "beats_additive": paired_comparison(scores["residual_recovery"], [0.0] * len(conditions)),
        }
    return out


def compare(
    result: dict,
    baselines: Sequence[str],
    subsets: Mapping[str, Sequence[bool]],
    *,
    seed: int = 0,
    random_twin: Mapping[str, str] | None = None,
) -> dict:
    """Paired comparisons, per subset of conditions: every model against each baseline and its
    random-vector twin (``random_twin``: model → twin), and the reference rows against the
    half-B train-mean, on the :data:`COMPARED` metrics."""
    out = {}
    for subset, mask in subsets.items():
        mask = np.asarray(mask, dtype=bool)
        if mask.sum() == 0:
            continue
        entry = {"n": int(mask.sum()), "models": {}, "references": {}}

        def versus(scores: dict, base: dict, mask=mask) -> dict:
            return {
                metric: paired_comparison(
                    np.asarray(scores[metric])[mask],
                    np.asarray(base[metric])[mask],
                    higher_is_better=HIGHER_IS_BETTER[metric],
                    seed=seed,
                )
                for metric in COMPARED
            }

        for name, scores in result["scores"].items():
            model = {"summary": {m: summarize(np.asarray(v)[mask]) for m, v in scores.items()}}
            against = [b for b in baselines if b != name]
            twin = (random_twin or {}).get(name)
            model["versus"] = {b: versus(scores, result["scores"][b]) for b in against}
            if twin is not None:
                model["versus_random_twin"] = versus(scores, result["scores"][twin])
            entry["models"][name] = model
        for name, scores in result["references"].items():
            ref = {"summary": {m: summarize(np.asarray(v)[mask]) for m, v in scores.items()}}
            if name != HALF_BASELINE:
                ref["versus"] = {HALF_BASELINE: versus(scores, result["references"][HALF_BASELINE])}
            entry["references"][name] = ref
        if "reverse" in result:
            entry["reverse"] = {
                ranker: {key: summarize(np.asarray(v)[mask]) for key, v in scores.items()}
                for ranker, scores in result["reverse"].items()
            }
        out[subset] = entry
    return out


def public(result: dict) -> dict:
    """The result without the arrays kept for task-specific scores."""
    return {k: v for k, v in result.items() if not k.startswith("_")}
