"""tl.train_classifier / tl.predict: a CellClassifier fitted on, and applied to, a cell embedding."""

from __future__ import annotations

from importlib.metadata import version

import anndata as ad
import numpy as np
import pandas as pd

from ..errors import InputError
from ..models.classifier import CellClassifier
from ..recipe import identity_of


def _cells(adata: ad.AnnData, cells) -> np.ndarray:
    if cells is None:
        return np.arange(adata.n_obs)
    cells = np.asarray(cells)
    if cells.dtype == bool:
        if len(cells) != adata.n_obs:
            raise InputError(f"A boolean cells mask needs {adata.n_obs} entries, got {len(cells)}.")
        return np.flatnonzero(cells)
    if cells.dtype.kind in "iu":
        return cells
    return adata.obs_names.get_indexer(cells)


def train_classifier(
    adata: ad.AnnData,
    *,
    use_rep: str = "X_textcell",
    labels_key: str,
    model: str = "logreg",
    cells=None,
    seed: int = 0,
    **options,
) -> CellClassifier:
    """Fit a :class:`CellClassifier` on ``obsm[use_rep]`` and ``obs[labels_key]``.

    Parameters
    ----------
    adata
        Annotated data with a cell embedding (:func:`textcell.tl.embed_cells`).
    use_rep
        Key of the embedding in ``obsm``.
    labels_key
        ``obs`` column with the labels; cells without a label are left out.
    model
        ``"logreg"`` or ``"mlp"``.
    cells
        Training cells: a boolean mask, positions or obs names (default: all).
    seed
        Seed of the fit (see :class:`CellClassifier`).
    options
        Options of :class:`CellClassifier` (``hidden``, ``max_epochs``, ``C``, ...).
    """
    if labels_key not in adata.obs:
        raise InputError(f"labels_key={labels_key!r} is not an obs column; columns: {list(adata.obs)}.")
    fingerprint = identity_of(adata, use_rep)
    index = _cells(adata, cells)
    if (index < 0).any():
        raise InputError("Some training cells are not in adata.obs_names.")
    labels = adata.obs[labels_key].iloc[index]
    keep = labels.notna().to_numpy()
    classifier = CellClassifier(model, seed=seed, **options)
    x = np.asarray(adata.obsm[use_rep])[index[keep]]
    classifier.fit(x, labels[keep].astype(str).to_numpy(), fingerprint=fingerprint)
    classifier.use_rep, classifier.labels_key = use_rep, labels_key
    return classifier


def predict(
    adata: ad.AnnData,
    *,
    classifier: CellClassifier,
    key_added: str = "textcell_prediction",
    copy: bool = False,
) -> ad.AnnData | None:
    """Predict every cell's label with ``classifier`` (after checking the embedding fingerprint).

    Parameters
    ----------
    adata
        Annotated data with the embedding the classifier was trained on (same fingerprint).
    classifier
        A fitted :class:`CellClassifier` (:func:`train_classifier` or :meth:`CellClassifier.load`).
    key_added
        Prefix of the results.
    copy
        Return a modified copy instead of writing into ``adata``.

    Writes ``obs[key_added]`` (categorical), ``obs[key_added + '_probability']`` (of the predicted
    label), ``obsm[key_added + '_proba']`` (cells × classes, in ``uns[key_added]['classes']``
    order) and ``uns[key_added]['params']``.
    """
    classifier.check(adata)
    adata = adata.copy() if copy else adata
    probabilities = classifier.predict_proba(np.asarray(adata.obsm[classifier.use_rep]))
    best = np.argmax(probabilities, axis=1)
    adata.obs[key_added] = pd.Categorical(classifier.classes_[best], categories=classifier.classes_)
    adata.obs[f"{key_added}_probability"] = probabilities[np.arange(len(best)), best].astype(np.float32)
    adata.obsm[f"{key_added}_proba"] = probabilities.astype(np.float32)
    adata.uns[key_added] = {
        "params": {
            "textcell_version": version("textcell"),
            "model": classifier.model,
            "use_rep": classifier.use_rep,
            "labels_key": classifier.labels_key,
            "embedding_fingerprint": classifier.fingerprint["id"],
            "seed": classifier.seed,
        },
        "classes": classifier.classes_.astype(str),
    }
    return adata if copy else None
