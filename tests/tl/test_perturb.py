"""PerturbationModel and tl.perturb_predict on Papalexi 2021 (THP-1 CRISPR knockouts)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import textcell
from textcell.errors import GeneIdError, InputError
from textcell.perturb import PerturbationModel, ScouterConfig, perturbation_metrics, top_de_genes
from textcell.perturb.baselines import choose_temperature, context_weights
from textcell.perturb.conditions import split_label
from textcell.perturb.data import log_expression

KEEP = ("control", "IFNGR1", "IFNGR2", "JAK2", "STAT1", "IRF1", "MARCH8", "CUL3", "SMAD4")
MODEL = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def papalexi(shared_data) -> ad.AnnData:
    """Nine conditions, at most 150 cells each (raw counts)."""
    full = ad.read_h5ad(shared_data / "cells" / "papalexi2021_thp1_crispr.h5ad")
    rng = np.random.default_rng(0)
    labels = full.obs["perturbation"].astype(str).to_numpy()
    rows = [
        rng.choice(np.flatnonzero(labels == c), min(150, (labels == c).sum()), replace=False) for c in KEEP
    ]
    return full[np.sort(np.concatenate(rows))].copy()


@pytest.fixture(scope="module")
def log_x(papalexi):
    expression, normalize = log_expression(papalexi)
    assert normalize == "counts"
    return expression


def shift(log_x, adata, label):
    labels = adata.obs["perturbation"].astype(str).to_numpy()
    return log_x[labels == label].mean(0) - log_x[labels == "control"].mean(0)


def without(adata, label):
    return adata[adata.obs["perturbation"].astype(str) != label]


@pytest.fixture(scope="module")
def ridge(papalexi):
    return PerturbationModel("ridge", embedding=MODEL).fit(without(papalexi, "IFNGR2"))


def test_a_renamed_symbol_keeps_its_perturbation(ridge, corpus):
    row = ridge.resolution.set_index("name").loc["MARCH8"]
    assert (row["symbol"], row["route"]) == ("MARCHF8", "synonym")
    assert ridge.conditions["MARCH8"].genes == (row["entrez"],)
    assert corpus.record(row["entrez"]).symbol == "MARCHF8"
    assert set(ridge.conditions) == set(KEEP) - {"control", "IFNGR2"}


def test_a_condition_naming_an_unknown_gene_fails_clearly(ridge, papalexi):
    with pytest.raises(GeneIdError, match=r"'NOTAGENE1'.*NOTAGENE1 \(not a known gene\)"):
        ridge.predict(["NOTAGENE1"])
    with pytest.raises(GeneIdError, match="STAT1\\+NOTAGENE1"):
        ridge.predict(["STAT1+NOTAGENE1"])
    bad = papalexi.copy()
    bad.obs["perturbation"] = bad.obs["perturbation"].astype(str).replace({"STAT1": "NOTAGENE2"})
    with pytest.raises(GeneIdError, match="condition_genes"):
        PerturbationModel("train_mean").fit(bad)


def test_train_mean_adds_the_mean_training_shift_to_the_control(papalexi, log_x):
    model = PerturbationModel("train_mean").fit(papalexi)
    labels = [c for c in KEEP if c != "control"]
    expected = np.mean([shift(log_x, papalexi, c) for c in labels], axis=0)
    control = log_x[papalexi.obs["perturbation"].to_numpy() == "control"].mean(0)
    predicted = model.predict(["BRD4", "STAT3"])
    np.testing.assert_allclose(predicted.loc["BRD4"], control + expected, atol=1e-5)
    np.testing.assert_allclose(predicted.loc["STAT3"], predicted.loc["BRD4"])
    assert model.embedding is None
    assert model.fingerprint is None


def test_additive_sums_the_shifts_of_a_combinations_singles(papalexi, log_x):
    model = PerturbationModel("additive").fit(papalexi)
    control = model.control_mean
    predicted = model.predict(["STAT1+IRF1", "IRF1", "control"])
    np.testing.assert_allclose(
        predicted.loc["STAT1+IRF1"],
        control + shift(log_x, papalexi, "STAT1") + shift(log_x, papalexi, "IRF1"),
        atol=1e-5,
    )
    np.testing.assert_allclose(predicted.loc["IRF1"], control + shift(log_x, papalexi, "IRF1"), atol=1e-5)
    np.testing.assert_allclose(predicted.loc["control"], control)
    # a gene never seen alone falls back to the train-mean shift
    np.testing.assert_allclose(predicted.loc["STAT1+IRF1"], model.predict(["IRF1+STAT1"]).iloc[0])


def test_embedding_models_predict_an_unseen_knockout_from_its_text(ridge, papalexi, log_x):
    """IFNGR2 is held out; IFNGR1, JAK2, STAT1 and IRF1 (its pathway) are in training."""
    labels = papalexi.obs["perturbation"].to_numpy()
    observed = log_x[labels == "IFNGR2"].mean(0)
    control = log_x[labels == "control"]
    de = top_de_genes(log_x[labels == "IFNGR2"], control)
    ridge_scores = perturbation_metrics(ridge.predict(["IFNGR2"]).iloc[0], observed, control.mean(0), de)
    assert ridge_scores["pearson_delta_de20"] > 0.5
    knn = PerturbationModel("knn", embedding=MODEL, k=1).fit(without(papalexi, "IFNGR2"))
    delta = knn.predict(["IFNGR2"]).iloc[0].to_numpy() - knn.control_mean
    distances = np.abs(knn.params["single_deltas"] - delta).max(axis=1)
    assert distances.min() < 1e-9  # k=1: exactly one training gene's shift
    nearest = knn.params["single_entrez"][distances.argmin()]
    assert textcell.genes.GeneCorpus.load().record(nearest).symbol.startswith("IFNGR")


def test_predictions_start_from_the_given_control_cells(ridge, papalexi):
    own = ridge.predict(["IFNGR2"]).iloc[0]
    some = papalexi[papalexi.obs["perturbation"] == "control"][:40]
    given = ridge.predict(["IFNGR2"], adata=some).iloc[0]
    np.testing.assert_allclose(given - own, log_expression(some)[0].mean(0) - ridge.control_mean, atol=1e-5)
    with pytest.raises(InputError, match="genes"):
        ridge.predict(["IFNGR2"], adata=some[:, :-1])


def test_save_and_load_give_identical_predictions(ridge, tmp_path, papalexi):
    path = ridge.save(tmp_path / "ridge.npz")
    loaded = PerturbationModel.load(path, genes=papalexi.var_names)
    conditions = ["IFNGR2", "MARCH8", "STAT1+IRF1", "BRD4"]
    np.testing.assert_array_equal(loaded.predict(conditions), ridge.predict(conditions))
    assert loaded.fingerprint == ridge.fingerprint


def test_loading_with_other_genes_or_embeddings_fails_clearly(ridge, tmp_path, papalexi):
    path = ridge.save(tmp_path / "ridge.npz")
    with pytest.raises(InputError, match=r"predicts 299 genes but the data has 298"):
        PerturbationModel.load(path, genes=papalexi.var_names[:-1])
    with pytest.raises(InputError, match="fingerprint"):
        PerturbationModel.load(path, embedding="random")
    with pytest.raises(InputError, match=r"as \.npz"):
        ridge.save(tmp_path / "ridge.pkl")


def test_scouter_trains_predicts_and_round_trips(papalexi, tmp_path):
    config = ScouterConfig(max_epochs=2, hidden=32, latent=8, perturbation_hidden=16, n_control_samples=50)
    train = without(papalexi, "IFNGR2")
    model = PerturbationModel("scouter", embedding=MODEL, scouter=config, seed=3).fit(train)
    assert 1 <= model.training["best_epoch"] <= 2
    assert "held-out conditions" in model.training["validation"]
    predicted = model.predict(["IFNGR2", "STAT1+IRF1"])
    assert np.isfinite(predicted.to_numpy()).all()
    assert not np.allclose(predicted.iloc[0], predicted.iloc[1])
    again = PerturbationModel("scouter", embedding=MODEL, scouter=config, seed=3).fit(train)
    np.testing.assert_allclose(again.predict(["IFNGR2"]), predicted.iloc[[0]], atol=1e-6)
    loaded = PerturbationModel.load(model.save(tmp_path / "scouter.npz"), genes=train.var_names)
    np.testing.assert_array_equal(loaded.predict(["IFNGR2", "STAT1+IRF1"]), predicted)


def test_choose_temperature_follows_the_control_cells_only_when_they_tell():
    rng = np.random.default_rng(0)
    a, b, shift_a, shift_b = rng.normal(size=(4, 50))
    means = np.stack([a, a + 0.1 * rng.normal(size=50), b, b + 0.1 * rng.normal(size=50)])
    # contexts with similar control cells respond alike: sharp weights win; 0.1 and 0.05 both put
    # all weight on the twin context (equal scores up to rounding), so the smoother one is chosen
    assert choose_temperature(means, np.stack([shift_a, shift_a, shift_b, shift_b])) == 0.1
    # every context responds alike: no reason to prefer any, equal weights
    assert choose_temperature(means, np.tile(shift_a, (4, 1))) == np.inf
    assert choose_temperature(means[:2], np.stack([shift_a, shift_b])) == np.inf
    np.testing.assert_allclose(context_weights(a, means, np.inf), 0.25)
    assert context_weights(a, means, 0.05).argmax() == 0


def test_similar_cell_types_weigh_the_responses_of_cell_types_whose_control_cells_match(
    shared_data, tmp_path
):
    """CD14+ monocytes held out: the other monocytes' IFN-β response weighs most, and the
    weighted response is closer to theirs than the plain mean over cell types."""
    kang = ad.read_h5ad(shared_data / "cells" / "kang2018_ctrl_vs_ifnb.h5ad")
    x, _ = log_expression(kang)
    types = kang.obs["cell_type"].astype(str).to_numpy()
    ctrl = kang.obs["condition"].astype(str).to_numpy() == "ctrl"
    held = types == "CD14+ Monocytes"
    options = {
        "condition_key": "condition",
        "control": "ctrl",
        "context_key": "cell_type",
        "condition_genes": {"stim": "IFNB1"},
    }
    model = PerturbationModel("similar_contexts").fit(kang[~held], **options)
    others = list(dict.fromkeys(types[~held]))
    means = np.stack([x[(types == t) & ctrl].mean(0, dtype=np.float64) for t in others])
    shifts = np.stack([x[(types == t) & ~ctrl].mean(0, dtype=np.float64) for t in others]) - means
    np.testing.assert_allclose(model.params["context_means"], means)
    np.testing.assert_allclose(model.params["context_shifts"], shifts)
    query = kang[held & ctrl]
    weights = context_weights(x[held & ctrl].mean(0, dtype=np.float64), means, model.params["temperature"])
    assert others[int(weights.argmax())] == "FCGR3A+ Monocytes"
    predicted, control = model.predict_with_control(["stim"], adata=query)
    np.testing.assert_allclose(predicted.iloc[0] - control, weights @ shifts, atol=1e-6)
    train_mean = PerturbationModel("train_mean").fit(kang[~held], **options)
    truth = x[held & ~ctrl].mean(0), x[held & ctrl].mean(0), top_de_genes(x[held & ~ctrl], x[held & ctrl])
    ours = perturbation_metrics(predicted.iloc[0], *truth)["pearson_delta_de20"]
    plain = perturbation_metrics(train_mean.predict(["stim"], adata=query).iloc[0], *truth)
    assert ours > plain["pearson_delta_de20"]
    loaded = PerturbationModel.load(model.save(tmp_path / "similar.npz"), genes=kang.var_names)
    np.testing.assert_array_equal(loaded.predict(["stim"], adata=query), model.predict(["stim"], adata=query))
    assert model.embedding is None


def test_perturb_predict_writes_uns_that_survives_h5ad(ridge, papalexi, tmp_path):
    adata = papalexi[papalexi.obs["perturbation"].isin(["control", "STAT1"])].copy()
    out = textcell.tl.perturb_predict(adata, model=ridge, conditions=["IFNGR2", "MARCH8"], copy=True)
    assert "textcell_perturb" not in adata.uns
    result = out.uns["textcell_perturb"]
    assert list(result["predicted"].index) == ["IFNGR2", "MARCH8"]
    assert result["params"]["method"] == "ridge"
    assert result["params"]["fingerprint"] == ridge.fingerprint
    assert "MARCHF8" in result["params"]["perturbed_symbols"]
    np.testing.assert_allclose(
        result["delta"].to_numpy() + result["control_mean"], result["predicted"].to_numpy()
    )
    out.write_h5ad(tmp_path / "out.h5ad")
    back = ad.read_h5ad(tmp_path / "out.h5ad").uns["textcell_perturb"]
    np.testing.assert_allclose(back["predicted"].to_numpy(), result["predicted"].to_numpy())
    path = ridge.save(tmp_path / "model.npz")
    textcell.tl.perturb_predict(adata, model=path, conditions=["IFNGR2"], key_added="again")
    np.testing.assert_array_equal(adata.uns["again"]["predicted"].iloc[0], result["predicted"].iloc[0])


def test_metrics_on_real_shifts(papalexi, log_x):
    labels = papalexi.obs["perturbation"].to_numpy()
    cells, control = log_x[labels == "IFNGR1"], log_x[labels == "control"]
    de = top_de_genes(cells, control)
    assert len(set(de)) == 20
    perfect = perturbation_metrics(cells.mean(0), cells.mean(0), control.mean(0), de)
    assert perfect == pytest.approx(
        {"pearson_delta": 1.0, "pearson_delta_de20": 1.0, "nmse_de20": 0.0, "direction_de20": 1.0}
    )
    nothing = perturbation_metrics(control.mean(0), cells.mean(0), control.mean(0), de)
    assert nothing["nmse_de20"] == pytest.approx(1.0)
    flipped = perturbation_metrics(2 * control.mean(0) - cells.mean(0), cells.mean(0), control.mean(0), de)
    assert flipped["pearson_delta"] == pytest.approx(-1.0)
    assert flipped["direction_de20"] == 0.0
    # the top DE gene moves more, in t, than a gene ranked outside the top 20
    t_gap = np.abs(cells.mean(0) - control.mean(0))
    assert t_gap[de[0]] > np.median(t_gap)


def test_condition_labels():
    assert split_label("STAT1+IRF1", control="control") == ["STAT1", "IRF1"]
    assert split_label("STAT1+ctrl", control="ctrl") == ["STAT1"]
    assert split_label("control", control="control") == []
    with pytest.raises(InputError, match="empty part"):
        split_label("STAT1+", control="control")


def test_bad_options_fail_clearly(papalexi):
    with pytest.raises(InputError, match=r"Unknown perturbation method 'gears'.*ridge"):
        PerturbationModel("gears")
    with pytest.raises(InputError, match="No obs\\['guide'\\] column"):
        PerturbationModel("train_mean").fit(papalexi, condition_key="guide")
    with pytest.raises(InputError, match="No cells labelled 'NT'"):
        PerturbationModel("train_mean").fit(papalexi, control="NT")
    with pytest.raises(InputError, match="not fitted"):
        PerturbationModel("ridge").predict(["STAT1"])


def test_scouter_caps_the_training_cells_of_each_condition_and_context():
    from textcell.perturb.scouter import _cap_groups

    condition = np.repeat([0, 1, 2], [500, 30, 100])
    context = np.tile([0, 1], 315)
    keep = _cap_groups(condition, context, 40, seed=0)
    groups = pd.crosstab(condition[keep], context[keep])
    np.testing.assert_array_equal(groups.to_numpy(), [[40, 40], [15, 15], [40, 40]])
    np.testing.assert_array_equal(keep, _cap_groups(condition, context, 40, seed=0))
    assert not np.array_equal(keep, _cap_groups(condition, context, 40, seed=1))
    with pytest.raises(InputError, match="at least target_cells"):
        ScouterConfig(max_cells_per_group=8)
