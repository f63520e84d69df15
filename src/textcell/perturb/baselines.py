"""Baselines and embedding regressions: pure functions from training shifts to predicted shifts.

* train-mean: the mean shift of the training conditions, whatever the query.
* additive: a combination ``A+B`` gets the observed shifts of ``A`` and ``B`` summed.
* ridge (GenePert): ridge regression from a gene's text embedding to its shift, the penalty
  chosen by efficient leave-one-out over the training genes.
* kNN: the mean shift of the ``k`` training genes whose embeddings are most cosine-similar.
* similar contexts (no text): each training context's (cell type's) mean shift, weighted by how
  similar its control cells are to the query's; the temperature of the weights is chosen by
  leaving one training context out at a time.
"""

from __future__ import annotations

import numpy as np

from .metrics import pearson

RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 4, 15))
TEMPERATURES = (np.inf, 0.5, 0.2, 0.1, 0.05)  # ties go to the first: equal weights
SCORE_TIE = 1e-9  # scores closer than this are equal: rounding differs across BLAS and numpy builds


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def train_mean(deltas: np.ndarray) -> np.ndarray:
    """Mean shift over training conditions (each condition counts once)."""
    return np.asarray(deltas, dtype=np.float64).mean(axis=0)


def ridge_fit(vectors: np.ndarray, deltas: np.ndarray, alphas=RIDGE_ALPHAS) -> dict[str, np.ndarray]:
    """Coefficients, intercept and the chosen penalty of a ridge from unit embeddings to shifts."""
    from sklearn.linear_model import RidgeCV

    x = unit_rows(vectors)
    if len(x) < 3:  # leave-one-out needs a few genes; with fewer, lean on the penalty
        from sklearn.linear_model import Ridge

        fitted, alpha = Ridge(alpha=max(alphas)).fit(x, deltas), max(alphas)
    else:
        fitted = RidgeCV(alphas=alphas, fit_intercept=True).fit(x, deltas)
        alpha = float(fitted.alpha_)
    return {
        "coef": np.asarray(fitted.coef_, dtype=np.float64).reshape(deltas.shape[1], x.shape[1]),
        "intercept": np.asarray(fitted.intercept_, dtype=np.float64).reshape(deltas.shape[1]),
        "alpha": np.array(alpha),
    }


def ridge_predict(params: dict[str, np.ndarray], vectors: np.ndarray) -> np.ndarray:
    return unit_rows(vectors) @ params["coef"].T + params["intercept"]


def knn_predict(train_vectors: np.ndarray, deltas: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    """Mean shift of the ``k`` most cosine-similar training genes (ties broken by order); a zero
    vector (a gene the embedding knows nothing about) gets the mean of every training gene."""
    queries = unit_rows(vectors)
    similarity = queries @ unit_rows(train_vectors).T
    k = min(k, len(train_vectors))
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    deltas = np.asarray(deltas, dtype=np.float64)
    predicted = deltas[nearest].mean(axis=1)
    predicted[~queries.any(axis=1)] = deltas.mean(axis=0)
    return predicted


def context_weights(query_mean: np.ndarray, context_means: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax over contexts of the Pearson correlation of each context's control mean with the
    query's, both centred on the mean of the query and the contexts; equal weights at ``inf``."""
    reference = np.vstack([context_means, query_mean]).mean(axis=0)
    similarity = np.array([pearson(query_mean - reference, m - reference) for m in context_means])
    weights = np.exp((similarity - similarity.max()) / temperature)
    return weights / weights.sum()


def similar_contexts_shift(
    query_mean: np.ndarray, context_means: np.ndarray, context_shifts: np.ndarray, temperature: float
) -> np.ndarray:
    """The contexts' shifts weighted by the similarity of their control means to the query's."""
    return context_weights(query_mean, context_means, temperature) @ context_shifts


def choose_temperature(
    context_means: np.ndarray, context_shifts: np.ndarray, temperatures=TEMPERATURES
) -> float:
    """The temperature under which each context's shift is best predicted from the others'
    (mean Pearson over all genes), the smoothest among those within rounding of the best;
    ``inf`` with fewer than three contexts, where leaving one out leaves nothing to weigh."""
    n = len(context_means)
    if n < 3:
        return np.inf
    others = [np.arange(n) != i for i in range(n)]

    def score(temperature: float) -> float:
        return float(
            np.mean(
                [
                    pearson(
                        similar_contexts_shift(
                            context_means[i], context_means[o], context_shifts[o], temperature
                        ),
                        context_shifts[i],
                    )
                    for i, o in enumerate(others)
                ]
            )
        )

    scores = [score(t) for t in temperatures]
    best = max(scores)
    return float(next(t for t, s in zip(temperatures, scores, strict=True) if s >= best - SCORE_TIE))
