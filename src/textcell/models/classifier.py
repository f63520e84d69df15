"""CellClassifier: logistic regression or GenePT's two-layer MLP on cell embeddings."""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np

from .._torch import require_torch, torch_threads
from ..errors import InputError
from ..recipe import identity_of, require_same
from .base import FittedModel

logger = logging.getLogger("textcell")
MODELS = ("logreg", "mlp")
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


class CellClassifier(FittedModel):
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

    FORMAT = "textcell-classifier"
    FORMAT_VERSION = 2  # 2: the embedding identity covers the whole recipe (textcell.recipe)
    KIND = "classifier"

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
        self.fingerprint: dict = {}  # the training embedding's identity (textcell.recipe)
        self.use_rep: str = ""
        self.labels_key: str = ""
        self.history: dict = {}
        self._weights: dict[str, np.ndarray] = {}
        self._mean = self._scale = None
        self._network = None

    # ------------------------------------------------------------------ fitting
    @property
    def is_fitted(self) -> bool:
        return self.classes_ is not None

    def fit(self, x, y, *, fingerprint: dict | None = None) -> CellClassifier:
        """Fit on embeddings ``X`` (cells × d) and labels ``y``; ``fingerprint`` is the identity of
        ``X`` (:func:`textcell.recipe.identity_of`), checked again at prediction."""
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
        self.fingerprint = fingerprint or {"id": f"dim-{x.shape[1]}", "fields": {"dim": int(x.shape[1])}}
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
        train, val = validation_split(codes, o["val_fraction"], self.seed)
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
    def predict_proba(self, x) -> np.ndarray:
        """Class probabilities (cells × classes, in the order of ``classes_``)."""
        self.require_fitted()
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
        """Raise :class:`InputError` unless ``obsm[use_rep]`` was made like the training embedding,
        naming the recipe fields that differ."""
        self.require_fitted()
        key = use_rep or self.use_rep
        require_same(
            self.fingerprint,
            identity_of(adata, key),
            what=f"obsm[{key!r}] does not match the classifier's training embedding: it",
            fix="Embed the cells as the training cells were (textcell.tl.embed_genes / embed_cells), "
            "or train a classifier on this embedding.",
        )

    # ------------------------------------------------------------------ persistence
    def _state(self) -> tuple[dict, dict]:
        metadata = {
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
        return arrays, metadata

    @classmethod
    def _from_state(cls, arrays: dict, metadata: dict) -> CellClassifier:
        classifier = cls(metadata["model"], seed=metadata["seed"], **metadata["options"])
        classifier.classes_ = arrays["classes"].astype(str)
        classifier._mean, classifier._scale = arrays["mean"], arrays["scale"]
        classifier._weights = {name: arrays[f"weight_{i}"] for i, name in enumerate(metadata["weights"])}
        classifier.fingerprint = metadata["fingerprint"]
        classifier.use_rep, classifier.labels_key = metadata["use_rep"], metadata["labels_key"]
        classifier.history = metadata["history"]
        if classifier.model == "mlp":
            torch = require_torch()
            network = classifier._make_network(len(classifier._mean))
            network.load_state_dict({k: torch.from_numpy(v) for k, v in classifier._weights.items()})
            network.eval()
            classifier._network = network
        return classifier

    @classmethod
    def load(cls, path, *, adata: ad.AnnData | None = None) -> CellClassifier:
        """Read a saved classifier (no pickle); with ``adata``, check its embedding first."""
        classifier = cls.read(path)
        if adata is not None:
            classifier.check(adata)
        return classifier

    def _describe(self) -> str:
        return f"{self.model!r}, {len(self.classes_)} classes, embedding {self.fingerprint.get('id', '?')}"


def validation_split(codes: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
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
