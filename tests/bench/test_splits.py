import anndata as ad
import numpy as np
import pytest

from textcell.bench import classifier as bench
from textcell.bench.splits import GroupSplit, check_disjoint, leave_one_group_out, subsample
from textcell.errors import InputError


@pytest.fixture(scope="module")
def ifnb(shared_data):
    return ad.read_h5ad(shared_data / "cells" / "kang2018_ctrl_vs_ifnb.h5ad")


def test_leave_one_donor_out_never_puts_a_donor_on_both_sides(shared_data):
    donors = ad.read_h5ad(shared_data / "cells" / "kang2018_pbmc.h5ad").obs["donor"].astype(str).to_numpy()
    splits = leave_one_group_out(donors)
    assert len(splits) == 5
    for split in splits:
        assert set(donors[split.test]) == {split.name}
        assert split.name not in set(donors[split.train])
        assert len(split.train) + len(split.test) == len(donors)


def test_a_leaking_split_cannot_be_made():
    groups = np.array(["a", "a", "b", "b", "c"])
    with pytest.raises(InputError, match="both sides"):
        GroupSplit("leak", train=np.array([0, 2, 4]), test=np.array([1, 3]), groups=groups)
    with pytest.raises(InputError, match="both sides"):
        check_disjoint(groups, [0, 1], [1])
    check_disjoint(groups, [0, 1, 4], [2, 3])
    with pytest.raises(InputError, match="two groups"):
        leave_one_group_out(["a", "a"])


def test_ifnb_donors_are_the_samples_without_their_condition(ifnb):
    donors = bench.donor_from_sample(ifnb.obs)
    assert set(donors) == {"101", "107"}
    for split in leave_one_group_out(donors):
        held_out = set(ifnb.obs["sample"].to_numpy()[split.test])
        assert held_out == {f"ctrl{split.name}", f"stim{split.name}"}  # both samples of the donor
        assert not held_out & set(ifnb.obs["sample"].to_numpy()[split.train])
        assert set(ifnb.obs["condition"].to_numpy()[split.train]) == {"ctrl", "stim"}


def test_subsample_is_stratified_seeded_and_stays_in_training():
    labels = np.array(["a"] * 900 + ["b"] * 90 + ["c"] * 10)
    train = np.arange(0, 1000, 2)
    picked = subsample(train, labels, 0.1, seed=3)
    assert set(picked) <= set(train)
    counts = {label: int(np.sum(labels[picked] == label)) for label in "abc"}
    assert counts == {"a": 45, "b": 4, "c": 1}  # 10% of 450, 45, 5 (rounded, at least one)
    assert np.array_equal(picked, subsample(train, labels, 0.1, seed=3))
    assert not np.array_equal(picked, subsample(train, labels, 0.1, seed=4))
    assert np.array_equal(subsample(train, labels, 1.0), train)
    with pytest.raises(InputError):
        subsample(train, labels, 0.0)


def test_learning_curves_score_each_held_out_donor(ifnb):
    rng = np.random.default_rng(0)
    labels = ifnb.obs["condition"].astype(str).to_numpy()
    embedding = rng.normal(size=(ifnb.n_obs, 8)).astype(np.float32)
    embedding[:, 0] += 3 * (labels == "stim")  # one informative direction
    curves = bench.learning_curves(
        embedding, labels, bench.donor_from_sample(ifnb.obs), fractions=(0.05, 1.0), seeds=range(2),
        models=("knn", "logreg"),
    )  # fmt: skip
    assert curves["held_out"] == ["101", "107"]
    full = curves["scores"]["logreg"]["1.0"]
    assert len(full["accuracy"]) == 2
    assert len(full["per_fold"][0]) == 2
    assert min(full["accuracy"]) > 0.9
    assert curves["n_train"]["0.05"] < curves["n_train"]["1.0"] / 10


def test_knn_reference_never_degenerates_into_a_majority_vote():
    x_train = np.array([[0.0], [0.1], [0.2], [0.3], [0.4], [0.5], [10.0], [10.1]])
    y_train = np.array(["a"] * 6 + ["b"] * 2)
    assert list(bench.fit_predict("knn", x_train, y_train, np.array([[10.05]]), seed=0)) == ["b"]
