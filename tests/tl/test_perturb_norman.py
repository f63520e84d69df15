"""Perturbation models on Norman 2019 (K562 CRISPRa singles and doubles): genes without vectors,
reverse prediction (API, tl and CLI)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import textcell
from textcell.cli import main
from textcell.errors import InputError
from textcell.perturb import (
    PerturbationModel,
    candidate_conditions,
    nearest_shift_ranking,
    observed_shift,
    rank_perturbations,
)
from textcell.perturb.metrics import pearson

MODEL = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def norman(shared_data) -> ad.AnnData:
    """The Norman cells of the shared file (log1p-normalised), at most 60 per condition."""
    full = ad.read_h5ad(shared_data / "perturb" / "norman2019_mcfaline2023_subset.h5ad")
    full = full[full.obs["dataset"].astype(str) == "norman19"]
    labels = full.obs["perturbation"].astype(str).to_numpy()
    rng = np.random.default_rng(0)
    rows = [
        rng.choice(np.flatnonzero(labels == c), min(60, (labels == c).sum()), replace=False)
        for c in dict.fromkeys(labels)
    ]
    return full[np.sort(np.concatenate(rows))].copy()


def without(adata, *labels):
    return adata[~adata.obs["perturbation"].astype(str).isin(labels)].copy()


def test_a_gene_without_go_terms_stops_or_gets_the_zero_vector(norman, tmp_path):
    """IER5L has no GO annotation: by default a clear error; with missing_vectors='zero' the
    models know nothing about it (ridge: its intercept; kNN: the mean of every training gene)."""
    train = without(norman, "IER5L")
    strict = PerturbationModel("ridge", embedding="go").fit(train)
    with pytest.raises(InputError, match=r"no vector for IER5L.*missing_vectors='zero'"):
        strict.predict(["IER5L"])
    ridge = PerturbationModel("ridge", embedding="go", missing_vectors="zero").fit(train)
    delta = ridge.predict(["IER5L"]).iloc[0].to_numpy() - ridge.control_mean
    np.testing.assert_allclose(delta, ridge.params["intercept"], atol=1e-9)
    assert not np.allclose(ridge.predict(["KLF1"]).iloc[0], ridge.predict(["IER5L"]).iloc[0])
    knn = PerturbationModel("knn", embedding="go", missing_vectors="zero").fit(train)
    delta = knn.predict(["IER5L"]).iloc[0].to_numpy() - knn.control_mean
    np.testing.assert_allclose(delta, knn.params["single_deltas"].mean(0), atol=1e-9)
    loaded = PerturbationModel.load(knn.save(tmp_path / "knn.npz"), genes=norman.var_names)
    assert loaded.missing_vectors == "zero"
    np.testing.assert_array_equal(loaded.predict(["IER5L", "KLF1"]), knn.predict(["IER5L", "KLF1"]))
    with pytest.raises(InputError, match="missing_vectors must be one of error, zero"):
        PerturbationModel("ridge", missing_vectors="mean")


def test_models_share_a_resolver(norman):
    first = PerturbationModel("train_mean").fit(without(norman, "KLF1"))
    second = PerturbationModel("additive", resolver=first.resolver).fit(norman)
    assert second.resolver is first.resolver
    assert second.corpus is first.resolver.corpus


def test_candidate_conditions():
    assert candidate_conditions(["A", "B", "C", "A"]) == ["A", "B", "C"]
    assert candidate_conditions(["A", "B", "C"], pairs=True) == ["A", "B", "C", "A+B", "A+C", "B+C"]


def test_nearest_shift_ranks_observed_training_shifts_and_sums_of_seen_singles(norman):
    model = PerturbationModel("train_mean").fit(without(norman, "KLF1+MAP2K6"))
    labels = model.conditions
    query = model.deltas[list(labels).index("MAP2K3+MAP2K6")]
    candidates = ["MAP2K6+MAP2K3", "KLF1+MAP2K6", "BPGM", "KLF1", "MAP2K6"]
    table = nearest_shift_ranking(model, query, candidates).set_index("condition")
    # the training double, named in the other order, is the query's own shift
    assert table.loc["MAP2K6+MAP2K3", "pearson"] == pytest.approx(1.0)
    assert table.loc["MAP2K6+MAP2K3", "rank"] == 1
    # an unmeasured double of measured singles: the sum of their observed shifts
    singles = model._singles
    summed = np.sum([singles[g] for g in model._resolve(["KLF1+MAP2K6"])["KLF1+MAP2K6"].genes], axis=0)
    assert table.loc["KLF1+MAP2K6", "pearson"] == pytest.approx(pearson(summed, query))
    assert not table.loc["KLF1+MAP2K6", "seen"]
    # a gene never perturbed alone (BPGM is only in BPGM+SAMD1) has no shift: last
    assert np.isnan(table.loc["BPGM", "pearson"])
    assert table.loc["BPGM", "rank"] == len(candidates)


def test_rank_perturbations_finds_a_held_out_double_from_its_singles(norman):
    """KLF1+MAP2K6 held out; its observed shift ranks candidates predicted by the additive model
    (KLF1 and MAP2K6 alone were seen). KLF1's effect dominates the double (both correlate above
    0.97 with it), so the double comes second among every Norman gene and double, behind KLF1."""
    model = PerturbationModel("additive").fit(without(norman, "KLF1+MAP2K6"))
    shift = observed_shift(norman, "KLF1+MAP2K6", genes=model.genes)
    assert list(shift.index) == model.genes
    labels = norman.obs["perturbation"].astype(str).unique()
    genes = sorted({g for label in labels if label != "control" for g in label.split("+")})
    candidates = [*candidate_conditions(genes), *(c for c in labels if "+" in c)]
    table = rank_perturbations(model, shift, candidates)
    assert len(table) == len(candidates) == 46
    assert table["rank"].is_monotonic_increasing
    assert table["condition"].head(2).tolist() == ["KLF1", "KLF1+MAP2K6"]
    assert table["pearson"].iloc[1] > 0.97
    assert table.set_index("condition").loc["KLF1", "seen"]
    # the same ranking from an array in the model's gene order
    again = rank_perturbations(model, shift.to_numpy(), candidates)
    pd.testing.assert_frame_equal(table, again)
    with pytest.raises(InputError, match="values; the model predicts 500"):
        rank_perturbations(model, shift.to_numpy()[:10], candidates)


def test_perturb_rank_tool_and_cli(norman, tmp_path, capsys):
    train = without(norman, "KLF1+MAP2K6")
    train.write_h5ad(tmp_path / "train.h5ad")
    norman.write_h5ad(tmp_path / "all.h5ad")
    model_path = tmp_path / "additive.npz"
    assert (
        main(["perturb", "fit", str(tmp_path / "train.h5ad"), "--method", "additive", "-o", str(model_path)])
        == 0
    )
    out = textcell.tl.perturb_rank(
        norman,
        model=model_path,
        condition="KLF1+MAP2K6",
        candidates=["KLF1+MAP2K6", "KLF1", "TBX3"],
        copy=True,
    )
    assert "textcell_perturb_rank" not in norman.uns
    result = out.uns["textcell_perturb_rank"]
    assert result["ranking"]["condition"].tolist() == ["KLF1", "KLF1+MAP2K6", "TBX3"]
    assert result["params"]["condition"] == "KLF1+MAP2K6"
    assert result["params"]["method"] == "additive"
    out.write_h5ad(tmp_path / "ranked.h5ad")
    back = ad.read_h5ad(tmp_path / "ranked.h5ad").uns["textcell_perturb_rank"]["ranking"]
    assert back["condition"].tolist() == result["ranking"]["condition"].tolist()
    capsys.readouterr()
    args = ["perturb", "reverse", str(model_path), "--h5ad", str(tmp_path / "all.h5ad")]
    tsv = tmp_path / "ranking.tsv"
    assert (
        main(
            [
                *args,
                "--condition",
                "KLF1+MAP2K6",
                "--candidate-genes",
                "KLF1",
                "MAP2K6",
                "TBX3",
                "--pairs",
                "-o",
                str(tsv),
            ]
        )
        == 0
    )
    table = pd.read_csv(tsv, sep="\t")
    assert len(table) == 6  # three singles and three pairs
    assert table["condition"].head(2).tolist() == ["KLF1", "KLF1+MAP2K6"]
    assert table["rank"].tolist() == [1, 2, 3, 4, 5, 6]
    assert "KLF1+MAP2K6" in capsys.readouterr().out
    assert main([*args, "--condition", "NOSUCH", "--candidates", "KLF1", "-o", str(tsv)]) == 2
    assert "No query cells labelled 'NOSUCH'" in capsys.readouterr().err


def test_cli_fits_a_go_model_that_gives_genes_without_terms_the_zero_vector(norman, tmp_path, capsys):
    without(norman, "IER5L").write_h5ad(tmp_path / "train.h5ad")
    fit = ["perturb", "fit", str(tmp_path / "train.h5ad"), "--method", "knn", "--model", "go"]
    predict = ["perturb", "predict", "--conditions", "IER5L", "KLF1", "-o", str(tmp_path / "p.tsv")]
    assert main([*fit, "-o", str(tmp_path / "strict.npz")]) == 0
    assert main([predict[0], predict[1], str(tmp_path / "strict.npz"), *predict[2:]]) == 2
    assert "no vector for IER5L" in capsys.readouterr().err
    assert main([*fit, "--missing-vectors", "zero", "-o", str(tmp_path / "zero.npz")]) == 0
    assert main([predict[0], predict[1], str(tmp_path / "zero.npz"), *predict[2:]]) == 0
    table = pd.read_csv(tmp_path / "p.tsv", sep="\t", index_col=0)
    model = PerturbationModel.load(tmp_path / "zero.npz")
    np.testing.assert_allclose(
        table.loc["IER5L"].to_numpy() - model.control_mean, model.params["single_deltas"].mean(0), atol=1e-4
    )
