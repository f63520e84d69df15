"""The perturbation benchmark: folds of every design, the one protocol, the paired comparison,
reverse prediction and the report."""

from __future__ import annotations

import copy
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from textcell.bench import perturb as bench
from textcell.bench import perturb_protocol as protocol
from textcell.bench.perturb_report import goal_lines, goal_verdicts, headline_subset, perturb_markdown
from textcell.bench.report import readme_table, write_report
from textcell.bench.stats import paired_comparison
from textcell.cli import PERTURB_TASKS, build_parser
from textcell.perturb import perturbation_metrics, top_de_genes
from textcell.perturb.data import log_expression
from textcell.perturb.metrics import pearson

MODEL = "all-MiniLM-L6-v2"
RIDGE_TEXT = protocol.ModelSpec("ridge · MiniLM", "ridge", MODEL, family="ridge", knowledge="text")
RIDGE_RANDOM = protocol.ModelSpec("ridge · random", "ridge", "random", family="ridge", knowledge="random")
TRAIN_MEAN = protocol.ModelSpec(bench.BASELINE, "train_mean")


@pytest.fixture(scope="module")
def papalexi(shared_data) -> ad.AnnData:
    full = ad.read_h5ad(shared_data / "cells" / "papalexi2021_thp1_crispr.h5ad")
    keep = ["control", "IFNGR1", "IFNGR2", "JAK2", "STAT1", "IRF1", "CUL3"]
    labels = full.obs["perturbation"].astype(str).to_numpy()
    rng = np.random.default_rng(1)
    rows = [rng.choice(np.flatnonzero(labels == c), 120, replace=False) for c in keep]
    return full[np.sort(np.concatenate(rows))].copy()


@pytest.fixture(scope="module")
def screen(shared_data) -> ad.AnnData:
    return ad.read_h5ad(shared_data / "perturb" / "norman2019_mcfaline2023_subset.h5ad")


@pytest.fixture(scope="module")
def interactions(shared_data) -> pd.DataFrame:
    return pd.read_csv(shared_data / "perturb" / "norman2019_genetic_interactions.csv")


@pytest.fixture(scope="module")
def lopo(papalexi):
    folds = bench.papalexi_folds(papalexi, conditions=["IFNGR2", "STAT1", "CUL3"])
    return bench.run_task(folds, [TRAIN_MEAN, RIDGE_TEXT, RIDGE_RANDOM], [bench.BASELINE])


@pytest.fixture(scope="module")
def doubles(screen, interactions):
    folds = bench.norman_double_folds(
        screen, interactions, conditions=["KLF1+MAP2K6", "CBL+CNN1", "MAPK1+TGFBR2"]
    )
    return bench.run_task(
        folds,
        [TRAIN_MEAN, protocol.ModelSpec(bench.ADDITIVE, "additive"), RIDGE_TEXT, RIDGE_RANDOM],
        [bench.BASELINE, bench.ADDITIVE],
        candidates=bench.norman_candidates(screen),
        additive=bench.ADDITIVE,
        extra_subsets=lambda r: {
            "both singles seen": [r["info"][c]["singles_seen"] == 2 for c in r["conditions"]]
        },
    )


def test_every_condition_is_scored_and_compared_with_train_mean_pairwise(lopo):
    assert lopo["conditions"] == ["IFNGR2", "STAT1", "CUL3"]
    scores = lopo["scores"]["ridge · MiniLM"]["pearson_delta_de20"]
    base = lopo["scores"]["train-mean"]["pearson_delta_de20"]
    assert len(scores) == 3
    entry = lopo["comparisons"]["all"]["models"]["ridge · MiniLM"]
    assert entry["summary"]["pearson_delta_de20"]["mean"] == pytest.approx(np.mean(scores))
    assert entry["versus"]["train-mean"]["pearson_delta_de20"] == paired_comparison(scores, base)
    twin = lopo["scores"]["ridge · random"]["pearson_delta_de20"]
    assert entry["versus_random_twin"]["pearson_delta_de20"] == paired_comparison(scores, twin)
    assert "versus_random_twin" not in lopo["comparisons"]["all"]["models"]["ridge · random"]
    assert "train-mean" not in lopo["comparisons"]["all"]["models"]["train-mean"]["versus"]


def test_truth_controls_are_a_seeded_half_of_each_groups_control_cells():
    is_control = np.repeat([True, False, True], [100, 30, 50])
    groups = np.repeat(["a", "a", "b"], [100, 30, 50])
    kept = protocol.truth_controls(is_control, groups, seed=0)
    assert not (kept & ~is_control).any()
    assert (kept[:100].sum(), kept[130:].sum()) == (50, 25)
    np.testing.assert_array_equal(kept, protocol.truth_controls(is_control, groups, seed=0))
    assert not np.array_equal(kept, protocol.truth_controls(is_control, groups, seed=1))


def test_the_truth_never_uses_the_models_control_cells(papalexi, lopo):
    """Train-mean's scores, recomputed by hand: its shifts start from one half of the control
    cells, each held-out knockout's observed shift and DE genes from the other half only."""
    x, _ = log_expression(papalexi)
    labels = papalexi.obs["perturbation"].astype(str).to_numpy()
    truth = protocol.truth_controls(labels == "control", np.zeros(len(labels)), seed=0)
    seen = (labels == "control") & ~truth
    assert (seen.sum(), truth.sum()) == (60, 60)
    scores = lopo["scores"]["train-mean"]["pearson_delta_de20"]
    for fold, score in zip(lopo["conditions"], scores, strict=True):
        cells = x[labels == fold]
        observed = cells.mean(0) - x[truth].mean(0)
        others = set(labels) - {"control", fold}
        predicted = np.mean([x[labels == c].mean(0) - x[seen].mean(0) for c in others], axis=0)
        de = top_de_genes(cells, x[truth])
        assert score == pytest.approx(pearson(predicted[de], observed[de]), abs=1e-5)


def test_the_replication_check_and_reference_rows(lopo):
    refs = lopo["references"]
    assert list(refs) == list(protocol.REFERENCES)
    ceiling = dict(zip(lopo["conditions"], refs[protocol.CEILING]["pearson_delta_de20"], strict=True))
    assert ceiling["STAT1"] > 0.9  # a strong knockout replicates between halves of its cells
    assert lopo["replicates"] == [c >= protocol.REPLICATES for c in ceiling.values()]
    assert lopo["comparisons"]["replicating"]["n"] == sum(lopo["replicates"])
    oracle = refs[protocol.ORACLE]["pearson_delta_de20"]
    half = refs[protocol.HALF_BASELINE]["pearson_delta_de20"]
    reference = lopo["comparisons"]["all"]["references"][protocol.ORACLE]
    assert reference["versus"][protocol.HALF_BASELINE]["pearson_delta_de20"] == paired_comparison(
        oracle, half
    )


def test_leave_one_gene_out_drops_the_doubles_that_contain_it(screen):
    folds = {f.name: f for f in bench.norman_single_folds(screen, conditions=["KLF1", "IER5L"])}
    trained = set(folds["KLF1"].train.obs["perturbation"].astype(str))
    assert not {"KLF1", "KLF1+MAP2K6", "KLF1+TGFBR2", "SET+KLF1"} & trained
    assert {"MAP2K6", "TGFBR2", "SET+KLF1"} - trained == {"SET+KLF1"}
    assert len(set(folds["IER5L"].train.obs["perturbation"].astype(str))) == 33  # 32 others + control
    assert set(folds["KLF1"].train.obs["dataset"].astype(str)) == {"norman19"}
    query = folds["KLF1"].queries[0]
    assert (query.condition, len(query.cells), len(query.truth_control)) == ("KLF1", 100, 50)


def test_double_folds_know_their_singles_and_interaction_type(doubles):
    info = doubles["info"]
    assert info["KLF1+MAP2K6"]["singles_seen"] == 2
    assert info["CBL+CNN1"] == {
        "kind": "double",
        "singles_seen": 0,
        "gi_type": "synergy",
        "condition": "CBL+CNN1",
    }
    assert info["MAPK1+TGFBR2"]["gi_type"] == "epistasis"
    assert info["KLF1+MAP2K6"]["gi_type"] == ""
    assert doubles["comparisons"]["both singles seen"]["n"] == 2


def test_additive_is_the_sum_of_the_observed_singles(screen, doubles):
    data = bench.norman(screen)
    x, labels = np.asarray(data.X), data.obs["perturbation"].astype(str).to_numpy()
    truth = protocol.truth_controls(labels == "control", np.zeros(len(labels)), seed=0)
    seen = x[(labels == "control") & ~truth].mean(0, dtype=np.float64)
    predicted = sum(x[labels == g].mean(0, dtype=np.float64) - seen for g in ("KLF1", "MAP2K6"))
    cells, control = x[labels == "KLF1+MAP2K6"], x[truth]
    expected = perturbation_metrics(
        control.mean(0) + predicted, cells.mean(0), control.mean(0), top_de_genes(cells, control)
    )
    got = doubles["scores"][bench.ADDITIVE]
    index = doubles["conditions"].index("KLF1+MAP2K6")
    assert {m: got[m][index] for m in expected} == pytest.approx(expected, abs=1e-5)


def test_residual_from_additive_only_where_both_singles_were_seen(doubles):
    residual = doubles["residual"]
    assert residual["conditions"] == ["KLF1+MAP2K6", "MAPK1+TGFBR2"]
    assert bench.ADDITIVE not in residual
    ridge = residual["ridge · MiniLM"]["scores"]["residual_recovery"]
    assert len(ridge) == 2
    # recovery is 1 minus the model's squared error over additive's: summing ridge's smoothed
    # singles lands farther from a double than summing the observed singles
    assert max(ridge) < 0
    assert residual["ridge · MiniLM"]["beats_additive"]["beats"] is False


def test_reverse_prediction_counts_hits_in_expectation_over_ties(doubles):
    assert protocol.expected_hits(np.array([0.9, 0.5, 0.5, 0.1]), 1) == {
        "top1": 0.0,
        "top5": 1.0,
        "rank": 2.5,
    }
    assert protocol.expected_hits(np.array([0.2, 0.2, 0.2, 0.2]), 3)["top1"] == 0.25
    assert protocol.expected_hits(np.array([np.nan, 0.2, 0.1]), 0) == {"top1": 0.0, "top5": 1.0, "rank": 3.0}
    reverse = doubles["reverse"]
    n = len(doubles["candidates"])
    assert n == 46
    assert set(reverse) == {*doubles["scores"], protocol.NEAREST}
    # train-mean predicts one shift for every candidate: a random ranking
    assert reverse["train-mean"]["top1"] == pytest.approx([1 / n] * 3)
    assert reverse["train-mean"]["top5"] == pytest.approx([5 / n] * 3)
    # the nearest training shift scores the unseen KLF1+MAP2K6 by the sum of its observed singles;
    # KLF1 dominates it, and the training conditions with KLF1 (KLF1, KLF1+TGFBR2, SET+KLF1) can
    # outrank it, but it stays in the top 5
    index = doubles["conditions"].index("KLF1+MAP2K6")
    assert 2 <= reverse[protocol.NEAREST]["rank"][index] <= 5
    assert reverse[protocol.NEAREST]["top5"][index] == 1.0
    # CBL and CNN1 were never measured alone: nothing to compare, the double ranks last
    assert reverse[protocol.NEAREST]["top5"][doubles["conditions"].index("CBL+CNN1")] == 0.0


def test_mcfaline_predicts_a_held_out_line_from_the_others(screen):
    folds = bench.mcfaline_folds(screen, contexts=["A172"])
    fold = folds[0]
    assert set(fold.train.obs["cell_type"].astype(str)) == {"T98G", "U87MG"}
    assert len(fold.queries) == 9
    assert {q.id for q in fold.queries} >= {"MAPK1 in A172", "SGK1 in A172"}
    assert set(fold.queries[0].start.obs["cell_type"].astype(str)) == {"A172"}
    assert set(fold.queries[0].start.obs["perturbation"].astype(str)) == {"control"}
    result = bench.run_task(
        folds,
        [TRAIN_MEAN, protocol.ModelSpec(bench.SAME_KNOCKOUT, "additive")],
        [bench.BASELINE, bench.SAME_KNOCKOUT],
    )
    # same knockout: its mean shift over the other lines, each from its own controls
    data = protocol.log_adata(screen[screen.obs["dataset"].astype(str) == "mcfaline23"])
    x = np.asarray(data.X)
    labels, lines = (
        data.obs["perturbation"].astype(str).to_numpy(),
        data.obs["cell_type"].astype(str).to_numpy(),
    )
    truth = protocol.truth_controls(labels == "control", lines, seed=0)
    shift = np.mean(
        [
            x[(lines == line) & (labels == "MAPK1")].mean(0)
            - x[(lines == line) & (labels == "control") & ~truth].mean(0)
            for line in ("T98G", "U87MG")
        ],
        axis=0,
    )
    here = lines == "A172"
    cells, control = x[here & (labels == "MAPK1")], x[here & truth]
    expected = perturbation_metrics(
        control.mean(0) + shift, cells.mean(0), control.mean(0), top_de_genes(cells, control)
    )
    index = result["conditions"].index("MAPK1 in A172")
    assert result["scores"][bench.SAME_KNOCKOUT]["pearson_delta"][index] == pytest.approx(
        expected["pearson_delta"], abs=1e-5
    )


def test_the_model_grid_covers_every_family_and_kind_of_vector():
    specs = bench.knowledge_models()
    grid = {(s.family, s.knowledge, s.embedding) for s in specs}
    for family in ("ridge", "kNN", "Scouter"):
        assert {(family, "text", MODEL), (family, "GO", "go"), (family, "random", "random")} <= grid
    assert ("ridge", "text", "tfidf") in grid
    twins = bench.random_twins(specs)
    assert twins["kNN · GO"] == "kNN · random"
    assert twins["Scouter · MiniLM"] == "Scouter · random"
    assert all(s.options["scouter"] == bench.SCOUTER_OPTIONS for s in specs if s.family == "Scouter")
    assert tuple(PERTURB_TASKS) == bench.TASKS
    args = build_parser().parse_args(["perturb", "evaluate", "--tasks", "norman_doubles", "--jobs", "1"])
    assert (args.tasks, args.jobs, args.seeds) == (["norman_doubles"], 1, 1)


def _results(lopo, doubles) -> dict:
    return {
        "tasks": {
            "papalexi": {**lopo, "dataset": "d", "design": "lopo", "n_cells": 10, "n_genes": 5},
            "norman_doubles": {**doubles, "dataset": "n", "design": "lodo", "n_cells": 10, "n_genes": 5},
        },
        "wall_seconds": 60.0,
        "jobs": 2,
    }


def test_goal_lines_say_plainly_whether_knowledge_beats_the_baseline(lopo, doubles):
    results = _results(lopo, doubles)
    lines = goal_lines(results)
    assert lines[0].startswith("- **papalexi** (")
    assert "best knowledge model ridge · MiniLM" in lines[0]  # the only text or GO model
    assert "vs additive (sum of observed singles)" in lines[1]
    assert "Split-half ceiling's gain over train-mean" in lines[1]
    assert any(
        line.startswith("- Reverse prediction on Norman (3 held-out conditions, 46 candidates)")
        for line in lines
    )
    assert lines[-1].startswith("- Time: 1.0 min wall with 2 worker")
    verdicts = [goal_verdicts(key, task) for key, task in results["tasks"].items()]
    plain = next(line for line in lines if "Goal" in line)
    assert plain.startswith("- **Goal: met**") == any(v["winners"] for v in verdicts)
    if not any(v["winners"] for v in verdicts):
        assert plain.startswith("- **Goal: not met.** No knowledge-based model")
    winners = copy.deepcopy(results)
    task = winners["tasks"]["papalexi"]
    subset = task["comparisons"][headline_subset(task)]
    subset["models"]["ridge · MiniLM"]["versus"]["train-mean"]["pearson_delta_de20"]["beats"] = True
    goal = next(line for line in goal_lines(winners) if "Goal" in line)
    assert goal.startswith("- **Goal: met** on papalexi (ridge · MiniLM)")
    # random vectors never count as knowledge
    random_only = copy.deepcopy(results)
    task = random_only["tasks"]["papalexi"]
    subset = task["comparisons"][headline_subset(task)]
    subset["models"]["ridge · random"]["versus"]["train-mean"]["pearson_delta_de20"]["beats"] = True
    line = goal_lines(random_only)[0]
    assert "so do random vectors: ridge · random" in line


def test_report_and_readme_come_from_the_results(lopo, doubles, tmp_path):
    folder = tmp_path / "report"
    write_report(folder, perturb=_results(lopo, doubles))
    stored = json.loads((folder / "results.json").read_text())
    assert stored["perturb"]["tasks"]["papalexi"]["conditions"] == lopo["conditions"]
    text = (folder / "report.md").read_text()
    assert "| ridge · MiniLM |" in text
    assert f"| *reference:* {protocol.CEILING} |" in text
    assert "**All conditions (3), every metric** (the full table)" in text
    assert "| double | singles seen | GI type | ceiling |" in text
    assert "| CBL+CNN1 | 0 | synergy |" in text
    assert "| random ranking | 0.022 | 0.109 | 23.5 |" in text
    assert "Residual from additive, on the 2 doubles" in text
    assert "control split seed 0" in text
    assert readme_table(stored).strip().splitlines() == goal_lines(stored["perturb"])
    assert perturb_markdown(stored["perturb"]) in text
