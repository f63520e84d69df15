"""The perturbation benchmark: folds, spread, the comparison with train-mean, the report."""

from __future__ import annotations

import copy
import json

import anndata as ad
import numpy as np
import pytest

from textcell.bench import perturb as bench
from textcell.bench.report import write_report
from textcell.bench.stats import paired_beats, summarize
from textcell.cli import main
from textcell.perturb import top_de_genes
from textcell.perturb.data import log_expression
from textcell.perturb.metrics import METRICS, pearson

MODEL = "all-MiniLM-L6-v2"
TINY_SCOUTER = {"max_epochs": 1, "hidden": 16, "latent": 4, "perturbation_hidden": 8, "n_control_samples": 30}


@pytest.fixture(scope="module")
def papalexi(shared_data) -> ad.AnnData:
    full = ad.read_h5ad(shared_data / "cells" / "papalexi2021_thp1_crispr.h5ad")
    keep = ["control", "IFNGR1", "IFNGR2", "JAK2", "STAT1", "IRF1", "CUL3"]
    labels = full.obs["perturbation"].astype(str).to_numpy()
    rng = np.random.default_rng(1)
    rows = [rng.choice(np.flatnonzero(labels == c), 120, replace=False) for c in keep]
    return full[np.sort(np.concatenate(rows))].copy()


@pytest.fixture(scope="module")
def lopo(papalexi):
    specs = [bench.ModelSpec(bench.BASELINE, "train_mean"), bench.ModelSpec("ridge", "ridge", MODEL)]
    return bench.leave_one_perturbation_out(papalexi, specs, conditions=["IFNGR2", "STAT1", "CUL3"])


def test_leave_one_perturbation_out_scores_every_fold_and_compares_with_train_mean(lopo):
    assert lopo["folds"] == ["IFNGR2", "STAT1", "CUL3"]
    base, ridge = lopo["models"]["train-mean"], lopo["models"]["ridge"]
    scores = ridge["scores"]["pearson_delta_de20"]
    assert len(scores) == 3
    assert ridge["summary"]["pearson_delta_de20"]["n"] == 3
    assert ridge["summary"]["pearson_delta_de20"]["mean"] == pytest.approx(np.mean(scores))
    versus = ridge["versus_train_mean"]["pearson_delta_de20"]
    gains = np.subtract(scores, base["scores"]["pearson_delta_de20"])
    assert versus["gain"]["mean"] == pytest.approx(gains.mean())
    assert versus["folds_better"] == int((gains > 0).sum())
    assert versus["beats"] == paired_beats(summarize(gains))
    # lower normalised MSE is better: the gain is the baseline's error minus the model's
    nmse = np.subtract(base["scores"]["nmse_de20"], ridge["scores"]["nmse_de20"])
    assert ridge["versus_train_mean"]["nmse_de20"]["gain"]["mean"] == pytest.approx(nmse.mean())
    assert "versus_train_mean" not in base


def test_truth_controls_are_a_seeded_half_of_each_groups_control_cells():
    is_control = np.repeat([True, False, True], [100, 30, 50])
    groups = np.repeat(["a", "a", "b"], [100, 30, 50])
    kept = bench.truth_controls(is_control, groups, seed=0)
    assert not (kept & ~is_control).any()
    assert (kept[:100].sum(), kept[130:].sum()) == (50, 25)
    np.testing.assert_array_equal(kept, bench.truth_controls(is_control, groups, seed=0))
    assert not np.array_equal(kept, bench.truth_controls(is_control, groups, seed=1))


def test_the_truth_never_uses_the_models_control_cells(papalexi, lopo):
    """Train-mean's scores, recomputed by hand: its shifts start from one half of the control
    cells, each held-out knockout's observed shift and DE genes from the other half only."""
    x, _ = log_expression(papalexi)
    labels = papalexi.obs["perturbation"].astype(str).to_numpy()
    truth = bench.truth_controls(labels == "control", np.zeros(len(labels)), seed=0)
    seen = (labels == "control") & ~truth
    assert (seen.sum(), truth.sum()) == (60, 60)
    scores = lopo["models"]["train-mean"]["scores"]["pearson_delta_de20"]
    for fold, score in zip(lopo["folds"], scores, strict=True):
        cells = x[labels == fold]
        observed = cells.mean(0) - x[truth].mean(0)
        others = set(labels) - {"control", fold}
        predicted = np.mean([x[labels == c].mean(0) - x[seen].mean(0) for c in others], axis=0)
        de = top_de_genes(cells, x[truth])
        assert score == pytest.approx(pearson(predicted[de], observed[de]), abs=1e-5)


def test_reference_rows_show_the_ceiling(lopo):
    refs = lopo["references"]
    assert list(refs) == [bench.CEILING, bench.ORACLE, bench.HALF_BASELINE]
    assert lopo["halvings"] == 10
    ceiling = dict(zip(lopo["folds"], refs[bench.CEILING]["scores"]["pearson_delta_de20"], strict=True))
    assert ceiling["STAT1"] > 0.9  # a strong knockout replicates between halves of its cells
    # the oracle's gain is paired with train-mean scored on the same halves
    oracle, half = refs[bench.ORACLE]["scores"], refs[bench.HALF_BASELINE]["scores"]
    gain = np.subtract(oracle["pearson_delta_de20"], half["pearson_delta_de20"])
    assert refs[bench.ORACLE]["versus_train_mean"]["pearson_delta_de20"]["gain"]["mean"] == pytest.approx(
        gain.mean()
    )
    assert "versus_train_mean" not in refs[bench.HALF_BASELINE]


@pytest.mark.parametrize(
    ("ceiling", "oracle", "verdict"),
    [
        (False, False, "not even the held-out cells themselves beat train-mean"),
        (True, False, "out of reach for any model that predicts from the training perturbations"),
        (True, True, "within reach of a model that picks the right one"),
    ],
)
def test_the_ceiling_line_says_where_the_goal_stands(lopo, ceiling, oracle, verdict):
    task = copy.deepcopy(lopo)
    for name, beats in ((bench.CEILING, ceiling), (bench.ORACLE, oracle)):
        task["references"][name]["versus_train_mean"][bench.HEADLINE]["beats"] = beats
    line = bench.goal_lines({"tasks": {"papalexi": task}})[-1]
    assert line.startswith("- papalexi ceiling (references, not models")
    assert verdict in line


def _folds(model: list[float], baseline: list[float], metric: str) -> dict:
    return {
        f"f{i}": {
            "model": dict.fromkeys(METRICS, 0.0) | {metric: a},
            "base": dict.fromkeys(METRICS, 0.0) | {metric: b},
        }
        for i, (a, b) in enumerate(zip(model, baseline, strict=True))
    }


def test_beats_is_the_paired_gain_against_its_own_spread():
    # a steady small gain over a baseline that varies a lot between folds: beats it
    steady = bench._compare(
        _folds([0.15, 0.85, 0.45], [0.1, 0.8, 0.4], "pearson_delta_de20"), ["model", "base"], "base"
    )
    versus = steady["model"]["versus_train_mean"]["pearson_delta_de20"]
    assert versus["beats"]
    assert versus["folds_better"] == 3
    # a larger mean gain that flips sign between folds: does not
    erratic = bench._compare(
        _folds([0.9, 0.1, 0.9], [0.1, 0.6, 0.4], "pearson_delta_de20"), ["model", "base"], "base"
    )
    assert not erratic["model"]["versus_train_mean"]["pearson_delta_de20"]["beats"]
    # lower normalised MSE is better: a steadily lower error beats, a higher one does not
    lower = bench._compare(_folds([0.5, 0.7, 0.2], [0.6, 0.8, 0.3], "nmse_de20"), ["model", "base"], "base")
    assert lower["model"]["versus_train_mean"]["nmse_de20"]["beats"]
    assert lower["model"]["versus_train_mean"]["nmse_de20"]["gain"]["mean"] == pytest.approx(0.1)
    higher = bench._compare(_folds([0.6, 0.8, 0.3], [0.5, 0.7, 0.2], "nmse_de20"), ["model", "base"], "base")
    assert not higher["model"]["versus_train_mean"]["nmse_de20"]["beats"]


def test_held_out_cell_type_on_kang(shared_data):
    full = ad.read_h5ad(shared_data / "cells" / "kang2018_ctrl_vs_ifnb.h5ad")
    types = ["B cells", "CD14+ Monocytes", "CD4 T cells"]
    obs = full.obs[full.obs["cell_type"].isin(types)]
    rows = obs.groupby(["cell_type", "condition"], observed=True).head(60).index
    adata = full[rows].copy()
    specs = [
        bench.ModelSpec(bench.BASELINE, "train_mean"),
        bench.ModelSpec("similar cell types", "similar_contexts"),
        bench.ModelSpec("scouter", "scouter", MODEL, {"scouter": TINY_SCOUTER}),
    ]
    result = bench.held_out_context(adata, specs, seeds=(0,))
    assert result["folds"] == types
    base = result["models"]["train-mean"]["summary"]
    # the IFN-β response is shared: the other cell types' mean shift already correlates well
    assert base["pearson_delta_de20"]["mean"] > 0.5
    assert base["direction_de20"]["mean"] > 0.8
    assert result["models"]["scouter"]["summary"]["pearson_delta"]["n"] == 3
    assert result["models"]["similar cell types"]["summary"]["pearson_delta"]["n"] == 3
    assert result["control_seed"] == 0


def test_report_states_where_we_stand(lopo, tmp_path):
    results = {
        "tasks": {"papalexi": {**lopo, "dataset": "d", "design": "lopo", "n_cells": 10, "n_genes": 5}},
        "wall_seconds": 1.0,
    }
    folder = tmp_path / "report"
    write_report(folder, perturb=results)
    stored = json.loads((folder / "results.json").read_text())
    assert stored["perturb"]["tasks"]["papalexi"]["folds"] == lopo["folds"]
    text = (folder / "report.md").read_text()
    assert "| train-mean |" in text
    assert "| ridge |" in text
    assert f"| *reference, not a model; uses the held-out cells:* {bench.CEILING} |" in text
    assert f"| *reference, not a model; uses the held-out cells:* {bench.ORACLE} |" in text
    assert "- papalexi ceiling (references, not models" in text
    assert "control split seed 0" in text
    verdict = lopo["models"]["ridge"]["versus_train_mean"]["pearson_delta_de20"]["beats"]
    assert ("nothing beats train-mean" in text) is not verdict


def test_cli_fits_and_predicts(papalexi, tmp_path, capsys):
    papalexi.write_h5ad(tmp_path / "cells.h5ad")
    assert (
        main(
            [
                "perturb",
                "fit",
                str(tmp_path / "cells.h5ad"),
                "-o",
                str(tmp_path / "m.npz"),
                "--method",
                "knn",
                "--model",
                MODEL,
            ]
        )
        == 0
    )
    assert "MARCH8" not in capsys.readouterr().out  # not in this subset
    assert (
        main(
            [
                "perturb",
                "predict",
                str(tmp_path / "m.npz"),
                "--conditions",
                "IRF7",
                "STAT1+IRF1",
                "-o",
                str(tmp_path / "p.tsv"),
            ]
        )
        == 0
    )
    lines = (tmp_path / "p.tsv").read_text().splitlines()
    assert [line.split("\t")[0] for line in lines[1:]] == ["IRF7", "STAT1+IRF1"]
    assert len(lines[0].split("\t")) == 1 + papalexi.n_vars
    assert (
        main(
            [
                "perturb",
                "predict",
                str(tmp_path / "m.npz"),
                "--conditions",
                "NOTAGENE3",
                "-o",
                str(tmp_path / "q.tsv"),
            ]
        )
        == 2
    )
    assert "NOTAGENE3" in capsys.readouterr().err
