"""Perturbation benchmark: knowledge (text, GO, random vectors) × model (ridge, kNN, Scouter)
beside the baselines, on four designs, through one protocol (:mod:`.perturb_protocol`).

* **papalexi**: Papalexi 2021 THP-1 ECCITE-seq, 25 CRISPR knockouts; leave one knockout out.
* **norman_singles**: Norman 2019 K562 CRISPRa, 18 single genes; leave one gene out (and every
  double containing it, so the gene is unseen).
* **norman_doubles**: the 15 Norman doubles ``A+B``; leave one double out (singles and other
  doubles train); the additive baseline sums the observed singles; where both singles were seen,
  how much of the double's residual from additive a model recovers; the genetic-interaction type
  (Norman 2019, via Scouter's authors) where the table covers the pair.
* **mcfaline**: McFaline-Figueroa 2023 CRISPRi, 9 knockouts in three glioblastoma lines; hold out
  one line, predict its knockouts from the other lines and its own control cells, beside the
  same knockout's mean shift in the other lines.
* **kang**: Kang 2018 PBMC IFN-β; hold out one cell type (one stimulus: no gene knowledge to test).

On Norman, every fitted model also ranks candidate perturbations (every gene of the screen as a
single, and the screen's doubles) for the held-out condition's observed shift: reverse
prediction, beside the nearest training shift and random ranking.

The models' hyperparameters are their defaults, fixed before any of these runs (ridge's penalty
is chosen inside each fold by leave-one-out over its training genes; kNN k = 5; Scouter's
:class:`~textcell.perturb.ScouterConfig`, with one torch thread and at most 200 training cells
per condition and context, a time budget); nothing is tuned on the folds reported.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from importlib.metadata import version

import anndata as ad
import numpy as np
import pandas as pd

from ..datasets._shared import shared_file
from ..perturb import PerturbationModel
from ..perturb.conditions import split_label
from .perturb_protocol import (
    Fold,
    ModelSpec,
    Query,
    compare,
    evaluate,
    log_adata,
    public,
    residual_scores,
    truth_controls,
)

logger = logging.getLogger("textcell")

PAPALEXI = "cells/papalexi2021_thp1_crispr.h5ad"
KANG = "cells/kang2018_ctrl_vs_ifnb.h5ad"
NORMAN_MCFALINE = "perturb/norman2019_mcfaline2023_subset.h5ad"
INTERACTIONS = "perturb/norman2019_genetic_interactions.csv"
BASELINE = "train-mean"
ADDITIVE = "additive (sum of observed singles)"
SAME_KNOCKOUT = "same knockout, mean of the other lines"
EMBEDDINGS = {  # report name: (embedder, knowledge)
    "MiniLM": ("all-MiniLM-L6-v2", "text"),
    "TF-IDF": ("tfidf", "text"),
    "GO": ("go", "GO"),
    "random": ("random", "random"),
}
FAMILIES = {"ridge": "ridge", "kNN": "knn", "Scouter": "scouter"}
SCOUTER_EMBEDDINGS = ("MiniLM", "GO", "random")  # TF-IDF for ridge and kNN only: the time budget
# one torch thread per worker; at most 200 training cells per condition and context (binds on
# Papalexi and Kang only; Norman and McFaline have about 100): the time budget, chosen before any run
SCOUTER_OPTIONS = {"threads": 1, "max_cells_per_group": 200}
TASKS = ("papalexi", "norman_singles", "norman_doubles", "mcfaline", "kang")
GOAL_BASELINE = {
    "papalexi": BASELINE,
    "norman_singles": BASELINE,
    "norman_doubles": ADDITIVE,
    "mcfaline": BASELINE,
    "kang": BASELINE,
}


def knowledge_models(scouter: Mapping | None = None) -> list[ModelSpec]:
    """Every model family with every kind of gene vector (Scouter: text, GO and random only)."""
    options = {"scouter": {**SCOUTER_OPTIONS, **dict(scouter or {})}}
    specs = []
    for family, method in FAMILIES.items():
        for label, (embedder, knowledge) in EMBEDDINGS.items():
            if method == "scouter" and label not in SCOUTER_EMBEDDINGS:
                continue
            specs.append(
                ModelSpec(
                    f"{family} · {label}",
                    method,
                    embedder,
                    options if method == "scouter" else None,
                    family=family,
                    knowledge=knowledge,
                )
            )
    return specs


def random_twins(specs: Sequence[ModelSpec]) -> dict[str, str]:
    """Each knowledge model → the same model with random vectors."""
    random = {s.family: s.name for s in specs if s.knowledge == "random"}
    return {
        s.name: random[s.family] for s in specs if s.knowledge not in (None, "random") and s.family in random
    }


# ---------------------------------------------------------------------------- folds


def _labels(adata: ad.AnnData, key: str = "perturbation") -> np.ndarray:
    return adata.obs[key].astype(str).to_numpy()


def _genes(label: str) -> set[str]:
    return set(split_label(label, control="control"))


def leave_one_out_folds(
    adata: ad.AnnData, *, control_seed: int, holds_out=None, info=None, conditions=None
) -> list[Fold]:
    """One fold per condition: the models are fitted without it (and without every condition
    ``holds_out(held, other)`` says must go with it) and half of the control cells."""
    labels = _labels(adata)
    perturbations = [c for c in dict.fromkeys(labels) if c != "control"]
    truth = truth_controls(labels == "control", np.zeros(len(labels)), control_seed)
    seen = adata[~truth]
    seen_labels = labels[~truth]
    seen_mean = adata.X[(labels == "control") & ~truth].mean(0, dtype=np.float64)
    folds = []
    for held in conditions or perturbations:
        dropped = {held} | {c for c in perturbations if holds_out is not None and holds_out(held, c)}
        train = seen[~np.isin(seen_labels, list(dropped))]
        query = Query(
            held,
            held,
            adata.X[labels == held],
            adata.X[truth],
            seen_mean,
            info=info(held, train) if info else {},
        )
        folds.append(Fold(held, train, [query]))
    return folds


def papalexi_folds(adata: ad.AnnData, *, control_seed: int = 0, conditions=None) -> list[Fold]:
    return leave_one_out_folds(log_adata(adata), control_seed=control_seed, conditions=conditions)


def norman(adata: ad.AnnData) -> ad.AnnData:
    """The Norman 2019 cells of the shared Norman/McFaline file, log-normalised and dense."""
    return log_adata(adata[adata.obs["dataset"].astype(str) == "norman19"])


def norman_single_folds(adata: ad.AnnData, *, control_seed: int = 0, conditions=None) -> list[Fold]:
    """Leave one single gene out, with every double that contains it."""
    data = norman(adata)
    singles = [c for c in dict.fromkeys(_labels(data)) if c != "control" and "+" not in c]
    return leave_one_out_folds(
        data,
        control_seed=control_seed,
        holds_out=lambda held, other: held in _genes(other),
        conditions=conditions or singles,
        info=lambda held, train: {"kind": "single"},
    )


def norman_double_folds(
    adata: ad.AnnData, interactions: pd.DataFrame | None = None, *, control_seed: int = 0, conditions=None
) -> list[Fold]:
    """Leave one double out; its singles, where measured, stay in training."""
    data = norman(adata)
    doubles = [c for c in dict.fromkeys(_labels(data)) if "+" in c]
    types = {}
    if interactions is not None:
        types = {
            frozenset(_genes(p)): t
            for p, t in zip(interactions["perturbation"], interactions["gi_type"], strict=True)
        }

    def info(held: str, train: ad.AnnData) -> dict:
        trained = set(_labels(train))
        return {
            "kind": "double",
            "singles_seen": sum(g in trained for g in _genes(held)),
            "gi_type": types.get(frozenset(_genes(held)), ""),
        }

    return leave_one_out_folds(data, control_seed=control_seed, conditions=conditions or doubles, info=info)


def norman_candidates(adata: ad.AnnData) -> list[str]:
    """Reverse prediction's candidates: every gene of the Norman screen as a single perturbation
    (those measured alone and those only in doubles) and the screen's doubles."""
    labels = [c for c in dict.fromkeys(_labels(norman(adata))) if c != "control"]
    genes = dict.fromkeys(g for label in labels for g in split_label(label, control="control"))
    return [*genes, *(c for c in labels if "+" in c)]


def held_out_context_folds(
    adata: ad.AnnData,
    *,
    context_key: str,
    control: str = "control",
    condition_key: str = "perturbation",
    condition_genes: Mapping[str, str] | None = None,
    control_seed: int = 0,
    contexts: Sequence[str] | None = None,
) -> list[Fold]:
    """One fold per context (cell line, cell type): fitted on the other contexts; each of its
    conditions is predicted from half of its own control cells, the truth uses the other half."""
    labels = _labels(adata, condition_key)
    where = adata.obs[context_key].astype(str).to_numpy()
    truth = truth_controls(labels == control, where, control_seed)
    fit = {"condition_key": condition_key, "control": control, "context_key": context_key}
    if condition_genes:
        fit["condition_genes"] = dict(condition_genes)
    folds = []
    for context in contexts or list(dict.fromkeys(where)):
        here = where == context
        start = adata[here & (labels == control) & ~truth]
        start_mean = np.asarray(start.X).mean(0, dtype=np.float64)
        queries = [
            Query(
                f"{condition} in {context}",
                condition,
                adata.X[here & (labels == condition)],
                adata.X[here & truth],
                start_mean,
                start=start,
                info={"context": context},
            )
            for condition in dict.fromkeys(labels[here])
            if condition != control
        ]
        folds.append(Fold(context, adata[~here & ~truth], queries, fit))
    return folds


def mcfaline_folds(adata: ad.AnnData, *, control_seed: int = 0, contexts=None) -> list[Fold]:
    data = log_adata(adata[adata.obs["dataset"].astype(str) == "mcfaline23"])
    return held_out_context_folds(data, context_key="cell_type", control_seed=control_seed, contexts=contexts)


def kang_folds(adata: ad.AnnData, *, control_seed: int = 0, contexts=None) -> list[Fold]:
    return held_out_context_folds(
        log_adata(adata),
        context_key="cell_type",
        condition_key="condition",
        control="ctrl",
        condition_genes={"stim": "IFNB1"},
        control_seed=control_seed,
        contexts=contexts,
    )


# ---------------------------------------------------------------------------- tasks


def _subsets(result: dict, extra: Mapping[str, Sequence[bool]] | None = None) -> dict:
    replicating = result["replicates"]
    return {"all": [True] * len(replicating), "replicating": replicating, **dict(extra or {})}


def run_task(
    folds: Sequence[Fold],
    specs: Sequence[ModelSpec],
    baselines: Sequence[str],
    *,
    seeds: Sequence[int] = (0,),
    jobs: int = 1,
    control_seed: int = 0,
    halvings: int = 10,
    candidates: Sequence[str] | None = None,
    extra_subsets=None,
    additive: str | None = None,
    desc: str = "folds",
) -> dict:
    """Evaluate ``folds`` and compare every model with ``baselines`` and its random twin."""
    result = evaluate(
        folds,
        specs,
        seeds=seeds,
        halvings=halvings,
        seed=control_seed,
        candidates=candidates,
        jobs=jobs,
        desc=desc,
    )
    subsets = _subsets(result, extra_subsets(result) if extra_subsets else None)
    result["baselines"] = list(baselines)
    result["comparisons"] = compare(
        result, baselines, subsets, seed=control_seed, random_twin=random_twins(specs)
    )
    if additive is not None:
        seen = [c for c in result["conditions"] if result["info"][c].get("singles_seen") == 2]
        result["residual"] = residual_scores(result, additive, seen)
    result["control_seed"] = control_seed
    return public(result)


def perturbation_benchmark(
    *,
    tasks: Sequence[str] = TASKS,
    seeds: Sequence[int] = (0,),
    kang_seeds: Sequence[int] = (0, 1, 2),
    scouter: Mapping | None = None,
    jobs: int = 1,
    control_seed: int = 0,
    halvings: int = 10,
    conditions: Mapping[str, Sequence[str]] | None = None,
) -> dict:
    """Run the benchmark on the shared data; a JSON-able dict of every number.

    ``seeds``: Scouter's seeds per fold (the other models are deterministic); ``conditions``
    restricts a task to some of its folds (``{"papalexi": ["STAT1", ...]}``; for tests).
    """
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise ValueError(f"unknown perturbation task(s) {sorted(unknown)}; choose from {', '.join(TASKS)}")
    start, cpu = time.perf_counter(), time.process_time()
    conditions = dict(conditions or {})
    models = knowledge_models(scouter)
    common = {"jobs": jobs, "control_seed": control_seed, "halvings": halvings}
    results: dict = {"textcell_version": version("textcell"), "jobs": jobs, "tasks": {}}
    if "papalexi" in tasks:
        adata = ad.read_h5ad(shared_file(PAPALEXI))
        task = run_task(
            papalexi_folds(adata, control_seed=control_seed, conditions=conditions.get("papalexi")),
            [ModelSpec(BASELINE, "train_mean"), *models],
            [BASELINE],
            seeds=seeds,
            desc="papalexi",
            **common,
        )
        full = PerturbationModel(
            "scouter", embedding="all-MiniLM-L6-v2", seed=0, scouter={"threads": 1, **dict(scouter or {})}
        )
        full.fit(adata)  # the whole data from raw counts: the stated training time
        renamed = full.resolution[full.resolution["route"] != "symbol"]
        task.update(
            dataset="Papalexi 2021 THP-1 ECCITE-seq (25 CRISPR knockouts)",
            design="leave one knockout out",
            n_cells=int(adata.n_obs),
            n_genes=int(adata.n_vars),
            renamed=renamed[["name", "symbol", "route"]].to_dict(orient="records"),
            scouter_full_fit={
                "seconds": full.training["seconds"],
                "epochs": full.training["best_epoch"],
                "validation": full.training["validation"],
                "torch_threads": 1,
            },
            not_applicable={"additive": "no combinations in the data"},
        )
        results["tasks"]["papalexi"] = task
    if {"norman_singles", "norman_doubles", "mcfaline"} & set(tasks):
        screen = ad.read_h5ad(shared_file(NORMAN_MCFALINE))
        candidates = norman_candidates(screen)
        norman_cells = int((screen.obs["dataset"].astype(str) == "norman19").sum())
    if "norman_singles" in tasks:
        task = run_task(
            norman_single_folds(
                screen, control_seed=control_seed, conditions=conditions.get("norman_singles")
            ),
            [ModelSpec(BASELINE, "train_mean"), *models],
            [BASELINE],
            seeds=seeds,
            candidates=candidates,
            desc="norman singles",
            **common,
        )
        task.update(
            dataset="Norman 2019 K562 CRISPRa, single genes",
            design="leave one gene out (with the doubles that contain it)",
            n_cells=norman_cells,
            n_genes=int(screen.n_vars),
        )
        results["tasks"]["norman_singles"] = task
    if "norman_doubles" in tasks:
        interactions = pd.read_csv(shared_file(INTERACTIONS))
        task = run_task(
            norman_double_folds(
                screen, interactions, control_seed=control_seed, conditions=conditions.get("norman_doubles")
            ),
            [ModelSpec(BASELINE, "train_mean"), ModelSpec(ADDITIVE, "additive"), *models],
            [BASELINE, ADDITIVE],
            seeds=seeds,
            candidates=candidates,
            extra_subsets=lambda r: {
                "both singles seen": [r["info"][c]["singles_seen"] == 2 for c in r["conditions"]],
                "a single unseen": [r["info"][c]["singles_seen"] < 2 for c in r["conditions"]],
            },
            additive=ADDITIVE,
            desc="norman doubles",
            **common,
        )
        task.update(
            dataset="Norman 2019 K562 CRISPRa, double perturbations A+B",
            design="leave one double out (singles and the other doubles train)",
            n_cells=norman_cells,
            n_genes=int(screen.n_vars),
            interactions_covered=int(sum(bool(i["gi_type"]) for i in task["info"].values())),
        )
        results["tasks"]["norman_doubles"] = task
    if "mcfaline" in tasks:
        task = run_task(
            mcfaline_folds(screen, control_seed=control_seed, contexts=conditions.get("mcfaline")),
            [ModelSpec(BASELINE, "train_mean"), ModelSpec(SAME_KNOCKOUT, "additive"), *models],
            [BASELINE, SAME_KNOCKOUT],
            seeds=seeds,
            desc="mcfaline",
            **common,
        )
        task.update(
            dataset="McFaline-Figueroa 2023 CRISPRi, 9 knockouts in 3 glioblastoma lines",
            design="hold out one cell line; predict its knockouts from the other lines",
            n_cells=int((screen.obs["dataset"].astype(str) == "mcfaline23").sum()),
            n_genes=int(screen.n_vars),
        )
        results["tasks"]["mcfaline"] = task
    if "kang" in tasks:
        adata = ad.read_h5ad(shared_file(KANG))
        scouter_options = {"scouter": {**SCOUTER_OPTIONS, **dict(scouter or {})}}
        task = run_task(
            kang_folds(adata, control_seed=control_seed, contexts=conditions.get("kang")),
            [
                ModelSpec(BASELINE, "train_mean"),
                ModelSpec("similar cell types (no text)", "similar_contexts"),
                # one stimulus: its vector is the same in every fold, so no gene knowledge is tested
                ModelSpec("Scouter · MiniLM", "scouter", "all-MiniLM-L6-v2", scouter_options, "Scouter"),
            ],
            [BASELINE],
            seeds=kang_seeds,
            desc="kang",
            **common,
        )
        task.update(
            dataset="Kang 2018 PBMC, control vs IFN-β (5 cell types)",
            design="hold out one cell type",
            n_cells=int(adata.n_obs),
            n_genes=int(adata.n_vars),
            not_applicable={
                "additive": "no combinations",
                "ridge, kNN": "one training perturbation (IFNB1): they reduce to train-mean",
            },
        )
        results["tasks"]["kang"] = task
    results["wall_seconds"] = time.perf_counter() - start
    # CPU time of this process and, when folds ran in worker processes, of theirs
    workers = sum(task["fold_cpu_seconds"] for task in results["tasks"].values()) if jobs > 1 else 0.0
    results["cpu_seconds"] = time.process_time() - cpu + workers
    return results
