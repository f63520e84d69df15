"""Classifiers on cell embeddings (GenePT-w + logistic regression or a two-layer MLP).

:func:`train_classifier` fits a :class:`CellClassifier` on ``obsm[use_rep]`` and the labels in
``obs``; :func:`predict` writes labels and probabilities into ``obs`` / ``obsm``. A classifier
remembers the fingerprint of the embedding it was trained on (text model, view, corpus, cell
method and options, from ``uns[use_rep]['params']``) and refuses data embedded otherwise.

Saved as one ``.npz`` (weights as arrays, settings as JSON; no pickle, loaded with
``allow_pickle=False``): a save/load round trip gives bit-identical predictions.
"""

from __future__ import annotations

import hashlib
import json
import logging
from importlib.metadata import version
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from .._io import read_npz, write_npz
from .._torch import torch_threads
from ..errors import InputError

logger = logging.getLogger("textcell")
MODELS = ("logreg", "mlp")
FORMAT = "textcell-classifier"
FORMAT_VERSION = 1
EMBEDDING_KEYS = (
    "model", "backend", "fingerprint", "dim", "view", "corpus_version", "method", "normalization",
    "highly_variable", "idf", "center", "n_top", "sentence_model",
)  # fmt: skip
DEFAULTS = {
    "C": 1.0,
    "hidden": 256,
    "dropout": 0.2,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "max_epochs": 200,
    "patience": 20,
    "batch_size": 256,
    "val_fraction": 0.1,
    "n_threads": None,
}


def embedding_fingerprint(adata: ad.AnnData, use_rep: str) -> dict:
    """What made ``obsm[use_rep]``: ``{"id": short hash, "params": {...}}``.

    From the provenance :func:`textcell.tl.embed_cells` writes to ``uns[use_rep]['params']``;
    an embedding without provenance (e.g. ``X_pca``) is known only by its name and width.
    """
    if use_rep not in adata.obsm:
        raise InputError(
            f"Did not find .obsm[{use_rep!r}]; run textcell.tl.embed_cells first (or pass use_rep=)."
        )
    entry = adata.uns.get(use_rep)
    recorded = entry.get("params", {}) if isinstance(entry, dict) else {}
    if recorded:
        params = {k: _plain(recorded[k]) for k in EMBEDDING_KEYS if k in recorded}
    else:
        params = {"use_rep": use_rep, "dim": int(np.shape(adata.obsm[use_rep])[1])}
        logger.warning(
            "obsm[%r] has no textcell provenance in uns; the classifier can check only its width.", use_rep
        )
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return {"id": digest, "params": params}


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


class CellClassifier:
    """Logistic regression or a two-layer MLP (torch) on standardised cell embeddings.

    Parameters
    ----------
    model
        ``"logreg"`` (scikit-learn, L2, ``C``) or ``"mlp"`` (Linear → ReLU → Dropout → Linear;
        Adam with ``lr`` and ``weight_decay``; minibatches of ``batch_size``; early stopping on the
        loss of a stratified ``val_fraction`` of the training cells with ``patience`` epochs,
        restoring the best weights; at most ``max_epochs``; without a usable validation set,
        ``max_epochs`` epochs).
    seed
        Seeds the validation split, initialisation, dropout and batch order.
    options
        ``C``, ``hidden``, ``dropout``, ``lr``, ``weight_decay``, ``max_epochs``, ``patience``,
        ``batch_size``, ``val_fraction``, ``n_threads`` (torch threads while fitting and predicting;
        ``None``: torch's own setting, see :func:`textcell._torch.torch_threads`);
        defaults in :data:`DEFAULTS`.
    """

    def __init__(self, model: str = "logreg", *, seed: int = 0, **options):
        if model not in MODELS:
            raise InputError(f"Unknown model {model!r}; use one of {', '.join(MODELS)}.")
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise InputError(f"Unknown options {sorted(unknown)}; valid: {', '.join(DEFAULTS)}.")
        self.model = model
        self.seed = int(seed)
        self.options = {**DEFAULTS, **options}
        self.classes_: np.ndarray | None = None
        self.fingerprint: dict = {}
        self.use_rep: str = ""
        self.labels_key: str = ""
        self.history: dict = {}
        self._weights: dict[str, np.ndarray] = {}
        self._mean = self._scale = None
        self._network = None

    # ------------------------------------------------------------------ fitting
    def fit(self, x, y, *, fingerprint: dict | None = None) -> CellClassifier:
        """Fit on embeddings ``X`` (cells × d) and labels ``y``; ``fingerprint`` is what
        :func:`embedding_fingerprint` says about ``X`` (checked again at prediction)."""
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y).astype(str)
        if x.ndim != 2 or len(x) != len(y):
            raise InputError(
                f"x must be cells × dimensions with one label per cell; got {x.shape}, {y.shape}."
            )
        if not np.isfinite(x).all():
            raise InputError("The embedding contains NaN or infinite values.")
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise InputError("A classifier needs at least two labels among the training cells.")
        self.fingerprint = fingerprint or {"id": f"dim-{x.shape[1]}", "params": {"dim": int(x.shape[1])}}
        self._mean = x.mean(axis=0)
        scale = x.std(axis=0)
        self._scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        z = self._standardise(x)
        if self.model == "logreg":
            self._fit_logreg(z, codes)
        else:
            self._fit_mlp(z, codes)
        return self

    def _standardise(self, x) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float32) - self._mean) / self._scale).astype(np.float32)

    def _fit_logreg(self, z, codes) -> None:
        from sklearn.linear_model import LogisticRegression

        fitted = LogisticRegression(C=self.options["C"], max_iter=5000, random_state=self.seed).fit(z, codes)
        self._weights = {
            "coef": fitted.coef_.astype(np.float64),
            "intercept": fitted.intercept_.astype(np.float64),
        }
        self.history = {"n_iter": int(np.max(fitted.n_iter_))}

    def _fit_mlp(self, z, codes) -> None:
        with torch_threads(self.options["n_threads"]):
            self._train_mlp(z, codes)

    def _train_mlp(self, z, codes) -> None:
        import torch

        o = self.options
        torch.manual_seed(self.seed)
        train, val = _validation_split(codes, o["val_fraction"], self.seed)
        network = self._make_network(z.shape[1])
        optimizer = torch.optim.Adam(network.parameters(), lr=o["lr"], weight_decay=o["weight_decay"])
        loss_fn = torch.nn.CrossEntropyLoss()
        x_train, y_train = torch.from_numpy(z[train]), torch.from_numpy(codes[train].astype(np.int64))
        x_val = torch.from_numpy(z[val]) if len(val) else None
        y_val = torch.from_numpy(codes[val].astype(np.int64)) if len(val) else None
        generator = torch.Generator().manual_seed(self.seed)
        best, best_loss, waited, epoch = None, np.inf, 0, 0
        for epoch in range(1, o["max_epochs"] + 1):  # noqa: B007 (epoch is kept after the loop)
            network.train()
            order = torch.randperm(len(x_train), generator=generator)
            for start in range(0, len(order), o["batch_size"]):
                batch = order[start : start + o["batch_size"]]
                optimizer.zero_grad()
                loss_fn(network(x_train[batch]), y_train[batch]).backward()
                optimizer.step()
            if x_val is None:
                continue
            network.eval()
            with torch.no_grad():
                val_loss = float(loss_fn(network(x_val), y_val))
            if val_loss < best_loss - 1e-6:
                best_loss, waited = val_loss, 0
                best = {k: v.detach().clone() for k, v in network.state_dict().items()}
            else:
                waited += 1
                if waited >= o["patience"]:
                    break
        if best is not None:
            network.load_state_dict(best)
        network.eval()
        self._network = network
        self._weights = {k: v.detach().numpy().copy() for k, v in network.state_dict().items()}
        self.history = {
            "epochs": epoch,
            "n_validation": len(val),
            "best_validation_loss": float(best_loss) if np.isfinite(best_loss) else None,
        }

    def _make_network(self, dim: int):
        import torch

        o = self.options
        return torch.nn.Sequential(
            torch.nn.Linear(dim, o["hidden"]),
            torch.nn.ReLU(),
            torch.nn.Dropout(o["dropout"]),
            torch.nn.Linear(o["hidden"], len(self.classes_)),
        )

    # ------------------------------------------------------------------ prediction
    def _require_fitted(self) -> None:
        if self.classes_ is None:
            raise InputError("This classifier is not fitted; call fit() or textcell.tl.train_classifier.")

    def predict_proba(self, x) -> np.ndarray:
        """Class probabilities (cells × classes, in the order of ``classes_``)."""
        self._require_fitted()
        x = np.asarray(x, dtype=np.float32)
        expected = len(self._mean)
        if x.ndim != 2 or x.shape[1] != expected:
            raise InputError(f"Expected an embedding of {expected} dimensions, got shape {x.shape}.")
        z = self._standardise(x)
        if self.model == "logreg":
            logits = z.astype(np.float64) @ self._weights["coef"].T + self._weights["intercept"]
            if logits.shape[1] == 1:  # binary: scikit-learn keeps the logit of the second class only
                logits = np.hstack([np.zeros_like(logits), logits])
        else:
            import torch

            with torch_threads(self.options["n_threads"]), torch.no_grad():
                logits = self._network(torch.from_numpy(z)).numpy().astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def predict(self, x) -> np.ndarray:
        """The most probable label of each cell."""
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]

    # ------------------------------------------------------------------ checks
    def check(self, adata: ad.AnnData, use_rep: str | None = None) -> None:
        """Raise :class:`InputError` unless ``obsm[use_rep]`` was made like the training embedding."""
        self._require_fitted()
        found = embedding_fingerprint(adata, use_rep or self.use_rep)
        if found["id"] == self.fingerprint["id"]:
            return
        trained, now = self.fingerprint["params"], found["params"]
        differences = [
            f"{k}: trained on {trained.get(k)!r}, got {now.get(k)!r}"
            for k in sorted(set(trained) | set(now))
            if trained.get(k) != now.get(k)
        ]
        raise InputError(
            f"Embedding fingerprint mismatch: the classifier was trained on embedding "
            f"{self.fingerprint['id']}, obsm[{use_rep or self.use_rep!r}] is {found['id']} ("
            + "; ".join(differences)
            + "). Embed the cells with the same settings (textcell.tl.embed_genes / embed_cells) "
            "or train a classifier on this embedding."
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path) -> Path:
        """Write the classifier to one ``.npz`` file (atomically)."""
        self._require_fitted()
        path = Path(path)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "textcell_version": version("textcell"),
            "model": self.model,
            "seed": self.seed,
            "options": self.options,
            "fingerprint": self.fingerprint,
            "use_rep": self.use_rep,
            "labels_key": self.labels_key,
            "history": self.history,
            "weights": list(self._weights),
        }
        arrays = {
            "classes": self.classes_.astype(str),
            "mean": self._mean,
            "scale": self._scale,
            **{f"weight_{i}": value for i, value in enumerate(self._weights.values())},
        }
        return write_npz(path, arrays, meta)

    @classmethod
    def load(cls, path, *, adata: ad.AnnData | None = None) -> CellClassifier:
        """Read a saved classifier (no pickle); with ``adata``, check its embedding fingerprint."""
        arrays, meta = read_npz(path, "textcell classifier")
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise InputError(
                f"{path} is not a textcell classifier of format version {FORMAT_VERSION}; retrain it."
            )
        classifier = cls(meta["model"], seed=meta["seed"], **meta["options"])
        classifier.classes_ = arrays["classes"].astype(str)
        classifier._mean, classifier._scale = arrays["mean"], arrays["scale"]
        classifier._weights = {name: arrays[f"weight_{i}"] for i, name in enumerate(meta["weights"])}
        classifier.fingerprint = meta["fingerprint"]
        classifier.use_rep, classifier.labels_key = meta["use_rep"], meta["labels_key"]
        classifier.history = meta["history"]
        if classifier.model == "mlp":
            import torch

            network = classifier._make_network(len(classifier._mean))
            network.load_state_dict({k: torch.from_numpy(v) for k, v in classifier._weights.items()})
            network.eval()
            classifier._network = network
        if adata is not None:
            classifier.check(adata)
        return classifier

    def __repr__(self) -> str:
        state = "unfitted" if self.classes_ is None else f"{len(self.classes_)} classes"
        return f"CellClassifier({self.model!r}, {state}, embedding {self.fingerprint.get('id', '?')})"


def _validation_split(codes: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train, validation) indices; no validation when any label has a single cell or the
    validation set would be smaller than the number of labels."""
    index = np.arange(len(codes))
    n_classes = codes.max() + 1
    n_val = round(fraction * len(codes))
    if fraction <= 0 or n_val < n_classes or np.bincount(codes).min() < 2 or len(codes) - n_val < n_classes:
        return index, index[:0]
    from sklearn.model_selection import train_test_split

    train, val = train_test_split(index, test_size=n_val, stratify=codes, random_state=seed)
    return np.sort(train), np.sort(val)


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
    fingerprint = embedding_fingerprint(adata, use_rep)
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
