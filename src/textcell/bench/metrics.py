"""Cell-embedding metrics: clustering agreement, label transfer across held-out groups, batch mixing.

Every function takes an embedding (cells × dimensions) and labels, and returns one score per
seed or per fold, so that the caller reports a mean with its spread (:mod:`.stats`).

- :func:`kmeans_scores`: full k-means (``n_init=1`` per seed, so the spread over seeds is the
  spread a user sees) with k = the number of labels; ARI and AMI per seed.
- :func:`leiden_scores`: Leiden on scanpy's 15-nearest-neighbour graph (:func:`neighbor_graph`)
  at the resolution that gives k clusters of at least 1% of the cells (found once by bisection
  on seed 0), then ARI and AMI for each seed.
- :func:`label_silhouette`: silhouette width of the labels, rescaled to [0, 1].
- :func:`label_transfer`: kNN (k = 15) and logistic regression trained on all groups but one
  (donor, batch) and scored on the held-out group; without groups, stratified 5-fold.
- :func:`batch_silhouette`: scib's batch ASW: per label, 1 − ``|silhouette|`` of the batch labels,
  averaged over cells and then over labels (1 = batches mixed, 0 = separated).
- :func:`ilisi`: iLISI with a plain k-nearest-neighbour set (k = 30, uniform weights, not scib's
  perplexity-weighted kernel): the inverse Simpson index of batch labels among each cell's
  neighbours, rescaled to [0, 1] by (iLISI − 1) / (n_batches − 1) and averaged.
"""

from __future__ import annotations

from collections.abc import Iterable

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    adjusted_mutual_info_score,
    adjusted_rand_score,
    f1_score,
    silhouette_samples,
    silhouette_score,
)
from sklearn.model_selection import LeaveOneGroupOut, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..errors import InputError

N_NEIGHBORS = 15


def kmeans_scores(embedding: np.ndarray, labels, *, seeds: Iterable[int] = range(10)) -> dict[str, list]:
    """ARI and AMI of k-means (k = number of labels) against ``labels``, one per seed."""
    labels = np.asarray(labels)
    k = len(np.unique(labels))
    scores = {"ari": [], "ami": []}
    for seed in seeds:
        clusters = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(embedding)
        scores["ari"].append(adjusted_rand_score(labels, clusters))
        scores["ami"].append(adjusted_mutual_info_score(labels, clusters))
    return scores


def neighbor_graph(embedding: np.ndarray) -> ad.AnnData:
    """scanpy's 15-nearest-neighbour graph of the embedding (also what its UMAP is drawn from).

    Exact neighbours (scikit-learn), so that every run gives the same graph.
    """
    import scanpy as sc

    graph = ad.AnnData(obs=pd.DataFrame(index=np.arange(len(embedding)).astype(str)))
    graph.obsm["X_embedding"] = np.asarray(embedding, dtype=np.float32)
    sc.pp.neighbors(graph, n_neighbors=N_NEIGHBORS, use_rep="X_embedding", transformer="sklearn")
    return graph


def leiden_scores(
    graph: ad.AnnData, labels, *, seeds: Iterable[int] = range(10), max_steps: int = 12
) -> dict[str, list]:
    """ARI and AMI of Leiden clusters (at the resolution giving k = number of labels), per seed.

    ``graph`` comes from :func:`neighbor_graph`; Leiden is scanpy's igraph flavour.
    """
    labels = np.asarray(labels)
    k = len(np.unique(labels))
    resolution = _resolution_for(graph, k, max_steps)
    scores = {"ari": [], "ami": [], "resolution": resolution}
    for seed in seeds:
        clusters = _leiden(graph, resolution, seed)
        scores["ari"].append(adjusted_rand_score(labels, clusters))
        scores["ami"].append(adjusted_mutual_info_score(labels, clusters))
    return scores


def _leiden(graph: ad.AnnData, resolution: float, seed: int) -> np.ndarray:
    import scanpy as sc

    sc.tl.leiden(
        graph, resolution=resolution, random_state=seed, flavor="igraph", n_iterations=2, directed=False
    )
    return graph.obs["leiden"].to_numpy()


def _resolution_for(graph: ad.AnnData, k: int, max_steps: int) -> float:
    """Bisection (in log space) for the resolution at which seed 0 finds k clusters of at least
    1% of the cells (or the nearest count it met). Fragments do not count: on pbmc_3tech (3 types)
    a resolution splitting 1,982 cells from 10 + 8 outliers once passed for 3 clusters."""
    min_size = max(2, int(np.ceil(0.01 * graph.n_obs)))
    low, high = 1e-3, 10.0
    resolution, best = 1.0, (np.inf, 1.0)
    for _ in range(max_steps):
        sizes = np.unique(_leiden(graph, resolution, 0), return_counts=True)[1]
        found = int((sizes >= min_size).sum())
        best = min(best, (abs(found - k), resolution))
        if found == k:
            break
        low, high = (resolution, high) if found < k else (low, resolution)
        resolution = float(np.sqrt(low * high))
    return best[1]


def label_transfer(embedding: np.ndarray, labels, *, groups=None, seed: int = 0) -> dict[str, dict]:
    """kNN and logistic-regression label transfer; per fold accuracy and macro-F1, and the
    out-of-fold predictions of every cell (``predicted``).

    With ``groups`` (donor, batch), each fold holds out one whole group: no cell of a held-out
    group is ever in the training set. Without, stratified 5-fold (seeded).
    """
    labels = np.asarray(labels)
    if groups is not None:
        groups = np.asarray(groups)
        if len(np.unique(groups)) < 2:
            raise InputError("Group-held-out transfer needs at least two groups (donors or batches).")
        folds = LeaveOneGroupOut().split(embedding, labels, groups)
    else:
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed).split(embedding, labels)
    models = {
        "knn": lambda: KNeighborsClassifier(n_neighbors=N_NEIGHBORS),
        "logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
    }
    scores = {name: {"accuracy": [], "macro_f1": [], "predicted": np.empty_like(labels)} for name in models}
    for train, test in folds:
        if groups is not None and np.intersect1d(groups[train], groups[test]).size:
            raise InputError("A held-out group appears on both sides of a split.")
        for name, make in models.items():
            predicted = make().fit(embedding[train], labels[train]).predict(embedding[test])
            scores[name]["predicted"][test] = predicted
            scores[name]["accuracy"].append(accuracy_score(labels[test], predicted))
            scores[name]["macro_f1"].append(f1_score(labels[test], predicted, average="macro"))
    return scores


def label_silhouette(embedding: np.ndarray, labels) -> float:
    """Silhouette width of the labels (scikit-learn, Euclidean), rescaled to [0, 1] as in scib."""
    return float((silhouette_score(embedding, labels) + 1) / 2)


def batch_silhouette(embedding: np.ndarray, labels, batches) -> float:
    """scib's batch ASW (1 = batches well mixed within each label)."""
    labels, batches = np.asarray(labels), np.asarray(batches)
    per_label = []
    for label in np.unique(labels):
        cells = labels == label
        if len(np.unique(batches[cells])) < 2 or cells.sum() <= len(np.unique(batches[cells])):
            continue
        widths = silhouette_samples(embedding[cells], batches[cells])
        per_label.append(float(np.mean(1 - np.abs(widths))))
    if not per_label:
        raise InputError("No label has cells from two batches; batch mixing is undefined.")
    return float(np.mean(per_label))


def ilisi(embedding: np.ndarray, batches, *, n_neighbors: int = 30) -> float:
    """Mean rescaled iLISI over cells (1 = neighbourhoods as mixed as the batches allow)."""
    batches = np.asarray(batches)
    codes, batch_index = np.unique(batches, return_inverse=True)
    if len(codes) < 2:
        raise InputError("iLISI needs at least two batches.")
    _, index = NearestNeighbors(n_neighbors=n_neighbors).fit(embedding).kneighbors(embedding)
    neighbour_batches = batch_index[index]
    fractions = np.stack([(neighbour_batches == b).mean(axis=1) for b in range(len(codes))], axis=1)
    simpson = 1.0 / (fractions**2).sum(axis=1)
    return float(np.mean((simpson - 1) / (len(codes) - 1)))
