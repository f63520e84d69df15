import anndata as ad
import numpy as np
import pytest

import textcell
from textcell.bench.cells import prepare
from textcell.bench.splits import leave_one_group_out
from textcell.errors import InputError
from textcell.tl import CellClassifier, predict, train_classifier

FAST_MLP = {"max_epochs": 60, "patience": 8}


@pytest.fixture(scope="module")
def kang(shared_data):
    """3,000 Kang PBMC cells embedded with tfidf gene vectors and embed_cells' defaults."""
    adata = ad.read_h5ad(shared_data / "cells" / "kang2018_pbmc.h5ad")
    keep = np.random.default_rng(0).choice(adata.n_obs, 3000, replace=False)
    adata = prepare(adata[np.sort(keep)].copy())
    textcell.tl.embed_genes(adata, model="tfidf", view="card")
    textcell.tl.embed_cells(adata)
    return adata


@pytest.fixture(scope="module")
def split(kang):
    return leave_one_group_out(kang.obs["donor"].astype(str).to_numpy())[0]


@pytest.mark.parametrize("model", ["logreg", "mlp"])
def test_classifier_predicts_cell_types_of_an_unseen_donor(kang, split, model):
    classifier = train_classifier(
        kang, labels_key="cell_type", model=model, cells=split.train, **(FAST_MLP if model == "mlp" else {})
    )
    truth = kang.obs["cell_type"].astype(str).to_numpy()[split.test]
    predicted = classifier.predict(kang.obsm["X_textcell"][split.test])
    majority = max(np.mean(truth == c) for c in np.unique(truth))
    assert np.mean(predicted == truth) > max(0.85, majority + 0.2)
    assert sorted(classifier.classes_) == sorted(kang.obs["cell_type"].unique())


@pytest.mark.parametrize("model", ["logreg", "mlp"])
def test_save_load_round_trip_is_exact(kang, split, model, tmp_path):
    classifier = train_classifier(kang, labels_key="cell_type", model=model, cells=split.train, **FAST_MLP)
    path = classifier.save(tmp_path / "classifier.npz")
    loaded = CellClassifier.load(path, adata=kang)
    x = kang.obsm["X_textcell"]
    assert np.array_equal(loaded.predict_proba(x), classifier.predict_proba(x))
    assert loaded.fingerprint == classifier.fingerprint
    assert (loaded.model, loaded.use_rep, loaded.labels_key) == (model, "X_textcell", "cell_type")
    with np.load(path, allow_pickle=False) as stored:  # plain arrays, no pickled objects
        assert "metadata" in stored.files


def test_a_fingerprint_mismatch_fails_clearly(kang, split, tmp_path):
    classifier = train_classifier(kang, labels_key="cell_type", cells=split.train)
    other = kang.copy()
    textcell.tl.embed_cells(other, idf=False)
    with pytest.raises(InputError, match=r"does not match the classifier's.*idf: expected True, got False"):
        predict(other, classifier=classifier)
    path = classifier.save(tmp_path / "c.npz")
    with pytest.raises(InputError, match="does not match the classifier's training embedding"):
        CellClassifier.load(path, adata=other)
    renamed = kang.copy()
    textcell.tl.embed_genes(renamed, model="tfidf", view="name")
    textcell.tl.embed_cells(renamed)
    with pytest.raises(InputError, match="view: expected 'card@1', got 'name@1'"):
        predict(renamed, classifier=classifier)


def test_a_classifier_trained_on_whitened_scaled_cells_refuses_plain_ones(kang, split):
    """The recipe as a whole identifies an embedding: whiten and scale count, not only the model."""
    classifier = train_classifier(kang, labels_key="cell_type", cells=split.train)
    trained_on = kang.uns["X_textcell"]["params"]
    assert trained_on["whiten"]
    assert trained_on["scale"]
    plain = kang.copy()
    textcell.tl.embed_cells(plain, whiten=False, scale=False)
    with pytest.raises(
        InputError, match=r"scale: expected True, got False; whiten: expected True, got False"
    ):
        predict(plain, classifier=classifier)


def test_predict_writes_labels_and_probabilities_that_survive_h5ad(kang, split, tmp_path):
    classifier = train_classifier(kang, labels_key="cell_type", cells=split.train)
    result = predict(kang, classifier=classifier, copy=True)
    assert "textcell_prediction" not in kang.obs
    proba = result.obsm["textcell_prediction_proba"]
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    classes = result.uns["textcell_prediction"]["classes"]
    assert list(result.obs["textcell_prediction"]) == list(np.asarray(classes)[proba.argmax(axis=1)])
    np.testing.assert_allclose(result.obs["textcell_prediction_probability"], proba.max(axis=1))
    result.write_h5ad(tmp_path / "p.h5ad")
    back = ad.read_h5ad(tmp_path / "p.h5ad")
    assert back.obs["textcell_prediction"].equals(result.obs["textcell_prediction"])
    assert back.uns["textcell_prediction"]["params"]["embedding_fingerprint"] == classifier.fingerprint["id"]


def test_mlp_is_seeded_and_stops_early(kang, split):
    x, y = kang.obsm["X_textcell"][split.train], kang.obs["cell_type"].astype(str).to_numpy()[split.train]
    options = {"max_epochs": 400, "patience": 5}
    first = CellClassifier("mlp", seed=1, **options).fit(x, y)
    again = CellClassifier("mlp", seed=1, **options).fit(x, y)
    other = CellClassifier("mlp", seed=2, **options).fit(x, y)
    test = kang.obsm["X_textcell"][split.test]
    assert np.array_equal(first.predict_proba(test), again.predict_proba(test))
    assert not np.array_equal(first.predict_proba(test), other.predict_proba(test))
    assert first.history["epochs"] < 400
    assert first.history["n_validation"] == round(0.1 * len(y))


def test_binary_logreg_matches_scikit_learn(kang):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = kang.obsm["X_textcell"]
    y = np.where(kang.obs["cell_type"] == "B cells", "B", "other")
    classifier = CellClassifier("logreg").fit(x, y)
    scaler = StandardScaler().fit(x)
    reference = LogisticRegression(max_iter=5000, random_state=0).fit(scaler.transform(x), y)
    np.testing.assert_allclose(
        classifier.predict_proba(x), reference.predict_proba(scaler.transform(x)), atol=1e-4
    )


def test_bad_inputs_say_what_to_do(kang, tmp_path):
    with pytest.raises(InputError, match="embed_cells"):
        train_classifier(kang, use_rep="X_missing", labels_key="cell_type")
    with pytest.raises(InputError, match="not an obs column"):
        train_classifier(kang, labels_key="nope")
    with pytest.raises(InputError, match="model"):
        CellClassifier("forest")
    with pytest.raises(InputError, match="two labels"):
        CellClassifier().fit(kang.obsm["X_textcell"][:10], ["B"] * 10)
    with pytest.raises(InputError, match="dimensions"):
        CellClassifier().fit(kang.obsm["X_textcell"], kang.obs["cell_type"]).predict(np.zeros((2, 3)))
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(InputError, match="not a saved textcell classifier"):
        CellClassifier.load(tmp_path / "other.npz")
