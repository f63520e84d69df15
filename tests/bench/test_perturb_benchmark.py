"""The perturbation benchmark: folds, spread, the comparison with train-mean, the report."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pytest

from textcell.bench import perturb as bench
from textcell.bench.report import write_report
from textcell.bench.stats import beats
from textcell.cli import main

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
    assert versus["beats"] == beats(
        ridge["summary"]["pearson_delta_de20"], base["summary"]["pearson_delta_de20"]
    )
    # lower normalised MSE is better: the gain is the baseline's error minus the model's
    nmse = np.subtract(base["scores"]["nmse_de20"], ridge["scores"]["nmse_de20"])
    assert ridge["versus_train_mean"]["nmse_de20"]["gain"]["mean"] == pytest.approx(nmse.mean())
    assert "versus_train_mean" not in base


def test_held_out_cell_type_on_kang(shared_data):
    full = ad.read_h5ad(shared_data / "cells" / "kang2018_ctrl_vs_ifnb.h5ad")
    types = ["B cells", "CD14+ Monocytes", "CD4 T cells"]
    obs = full.obs[full.obs["cell_type"].isin(types)]
    rows = obs.groupby(["cell_type", "condition"], observed=True).head(60).index
    adata = full[rows].copy()
    specs = [
        bench.ModelSpec(bench.BASELINE, "train_mean"),
        bench.ModelSpec("scouter", "scouter", MODEL, {"scouter": TINY_SCOUTER}),
    ]
    result = bench.held_out_context(adata, specs, seeds=(0,))
    assert result["folds"] == types
    base = result["models"]["train-mean"]["summary"]
    # the IFN-β response is shared: the other cell types' mean shift already correlates well
    assert base["pearson_delta_de20"]["mean"] > 0.5
    assert base["direction_de20"]["mean"] > 0.8
    assert result["models"]["scouter"]["summary"]["pearson_delta"]["n"] == 3


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
