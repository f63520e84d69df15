"""The benchmark's metric code, checked against scikit-learn / scipy and brute force on small cases."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import pairwise_distances, silhouette_samples, silhouette_score

from textcell.bench import metrics
from textcell.bench.stats import beats, bootstrap_ci, paired_beats, paired_comparison, summarize
from textcell.errors import InputError


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = np.vstack([rng.normal(c, 1.0, size=(60, 2)) for c in centres])
    return points, np.repeat(["a", "b", "c"], 60)


def test_summarize_matches_scipy_t_interval():
    scores = [0.61, 0.72, 0.55, 0.68, 0.70]
    summary = summarize(scores)
    low, high = stats.t.interval(0.95, len(scores) - 1, loc=np.mean(scores), scale=stats.sem(scores))
    assert summary["mean"] == pytest.approx(np.mean(scores))
    assert summary["sd"] == pytest.approx(np.std(scores, ddof=1))
    assert (summary["ci_low"], summary["ci_high"]) == pytest.approx((low, high))
    assert summary["n"] == 5
    assert summarize([0.4]) == {"mean": 0.4, "sd": 0.0, "ci_low": 0.4, "ci_high": 0.4, "n": 1}
    with pytest.raises(ValueError, match="finite"):
        summarize([0.3, float("nan")])


def test_beats_needs_more_than_the_spread():
    assert beats(summarize([0.9, 0.91, 0.92]), summarize([0.5, 0.52, 0.51]))
    assert not beats(summarize([0.6, 0.9, 0.3]), summarize([0.5, 0.52, 0.51]))


def test_paired_beats_needs_a_gain_above_its_own_spread():
    assert paired_beats(summarize([0.10, 0.12, 0.08]))  # small but steady
    assert not paired_beats(summarize([0.5, -0.3, 0.1]))  # mean 0.1, sd 0.4
    assert not paired_beats(summarize([-0.10, -0.12, -0.08]))
    assert not paired_beats(summarize([0.2]))  # one fold has no spread to beat


def test_paired_comparison_is_a_bootstrap_interval_and_a_sign_test():
    model = [0.62, 0.55, 0.71, 0.40, 0.66, 0.58, 0.49, 0.70]
    base = [0.50, 0.52, 0.60, 0.45, 0.51, 0.50, 0.47, 0.55]
    result = paired_comparison(model, base, seed=3)
    gain = np.subtract(model, base)
    expected = stats.bootstrap(
        (gain,), np.mean, n_resamples=10_000, method="percentile", rng=np.random.default_rng(3)
    ).confidence_interval
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((expected.low, expected.high))
    assert result["gain"] == summarize(gain)
    assert (result["better"], result["worse"]) == (7, 1)
    assert result["sign_p"] == pytest.approx(stats.binomtest(7, 8).pvalue)
    assert result["beats"] == (expected.low > 0)
    # lower is better (normalised MSE): the gain is the baseline's error minus the model's
    lower = paired_comparison([0.5, 0.6, 0.4], [0.6, 0.8, 0.5], higher_is_better=False)
    assert lower["gain"]["mean"] == pytest.approx(0.1333333)
    # a gain that flips sign between units does not beat; one unit never does; NaN units drop
    assert not paired_comparison([0.9, 0.1, 0.9, 0.2], [0.1, 0.6, 0.4, 0.5])["beats"]
    assert not paired_comparison([0.9], [0.1])["beats"]
    assert paired_comparison([0.5, float("nan"), 0.7], [0.4, 0.1, 0.6])["gain"]["n"] == 2
    # the same prediction written two ways differs by rounding: a tie, not a win or a loss
    rounding = paired_comparison([0.5, 0.6, 0.7], [0.5 + 1e-15, 0.6 - 1e-15, 0.6])
    assert (rounding["better"], rounding["worse"]) == (1, 0)
    assert bootstrap_ci([0.2, 0.2, 0.2]) == (pytest.approx(0.2), pytest.approx(0.2))
    with pytest.raises(ValueError, match="equal lengths"):
        paired_comparison([0.1, 0.2], [0.1])


def test_kmeans_and_leiden_recover_separated_clusters(blobs):
    points, labels = blobs
    kmeans = metrics.kmeans_scores(points, labels, seeds=range(3))
    assert len(kmeans["ari"]) == 3
    assert min(kmeans["ari"]) > 0.95
    leiden = metrics.leiden_scores(metrics.neighbor_graph(points), labels, seeds=range(2))
    assert min(leiden["ari"]) > 0.95
    shuffled = np.random.default_rng(1).permutation(labels)
    assert max(metrics.kmeans_scores(points, shuffled, seeds=range(3))["ari"]) < 0.05


def test_leiden_finds_k_real_clusters_not_a_giant_one_and_fragments(shared_data):
    """pbmc_3tech has 3 types; at one resolution textcell's graph splits 1,982 cells from 10 + 8
    outliers: three clusters by count, ARI 0. The chosen resolution must give 3 substantial ones."""
    from textcell.bench import cells

    dataset = cells.DATASETS["pbmc_3tech"]
    adata = dataset.load()
    prepared = cells.prepare(adata)
    graph = metrics.neighbor_graph(np.asarray(cells.textcell_embedding(prepared, cells.default_config())))
    labels = adata.obs[dataset.label].astype(str).to_numpy()
    leiden = metrics.leiden_scores(graph, labels, seeds=range(2))
    sizes = np.unique(metrics._leiden(graph, leiden["resolution"], 0), return_counts=True)[1]
    assert (sizes >= 0.01 * adata.n_obs).sum() == 3
    assert min(leiden["ari"]) > 0.15


def test_label_silhouette_is_sklearns_rescaled(blobs):
    points, labels = blobs
    assert metrics.label_silhouette(points, labels) == pytest.approx(
        (silhouette_score(points, labels) + 1) / 2
    )


def test_batch_silhouette_follows_scib_definition(blobs):
    points, labels = blobs
    mixed = np.tile(["x", "y"], len(points) // 2)
    expected = np.mean(
        [np.mean(1 - np.abs(silhouette_samples(points[labels == c], mixed[labels == c]))) for c in "abc"]
    )
    assert metrics.batch_silhouette(points, labels, mixed) == pytest.approx(expected)
    assert metrics.batch_silhouette(points, labels, mixed) > 0.8
    shifted = points.copy()
    separated = np.where(np.arange(len(points)) % 60 < 30, "x", "y")
    shifted[separated == "y"] += 50.0
    assert metrics.batch_silhouette(shifted, labels, separated) < 0.1


def test_ilisi_matches_a_brute_force_count(blobs):
    points, _ = blobs
    batches = np.random.default_rng(2).choice(["x", "y", "z"], size=len(points))
    distances = pairwise_distances(points)
    expected = []
    for i in range(len(points)):
        neighbours = np.argsort(distances[i], kind="stable")[:10]
        fractions = np.array([(batches[neighbours] == b).mean() for b in "xyz"])
        expected.append((1 / (fractions**2).sum() - 1) / 2)
    assert metrics.ilisi(points, batches, n_neighbors=10) == pytest.approx(np.mean(expected), abs=0.02)
    separate = np.repeat(["x", "y", "z"], 60)
    assert metrics.ilisi(points, separate, n_neighbors=10) == pytest.approx(0.0, abs=0.01)
    with pytest.raises(InputError, match="two batches"):
        metrics.ilisi(points, np.zeros(len(points)))


def test_label_transfer_never_trains_on_the_held_out_group(blobs):
    points, labels = blobs
    # each group has labels of its own: a model that saw the held-out group would score > 0
    groups = labels.copy()
    transfer = metrics.label_transfer(points, labels, groups=groups)
    assert transfer["knn"]["accuracy"] == [0.0, 0.0, 0.0]
    assert transfer["logreg"]["accuracy"] == [0.0, 0.0, 0.0]
    donors = np.tile(["d1", "d2"], len(points) // 2)
    transfer = metrics.label_transfer(points, labels, groups=donors)
    assert len(transfer["knn"]["macro_f1"]) == 2
    assert min(transfer["knn"]["macro_f1"]) > 0.95
    assert (transfer["knn"]["predicted"] == labels).mean() > 0.95
    with pytest.raises(InputError, match="two groups"):
        metrics.label_transfer(points, labels, groups=np.zeros(len(points)))


def test_label_transfer_without_groups_uses_stratified_folds(blobs):
    points, labels = blobs
    transfer = metrics.label_transfer(points, labels)
    assert len(transfer["logreg"]["accuracy"]) == 5
    assert set(transfer["knn"]["predicted"]) == set(labels)
