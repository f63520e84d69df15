"""PerturbationModel: predict the mean expression of a condition never seen in training."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import version
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from .._defaults import DEFAULT_MODEL, DEFAULT_VIEW
from .._io import read_npz, write_npz
from ..embed.base import get_embedder
from ..embed.gene_embeddings import gene_vectors
from ..errors import InputError
from ..genes.corpus import GeneCorpus
from ..genes.ids import GeneResolver
from . import baselines
from .conditions import Condition, resolve_conditions
from .data import context_shifts, log_expression, observed_deltas
from .scouter import ScouterConfig

logger = logging.getLogger("textcell")

METHODS = {
    "train_mean": "the mean shift of the training conditions (the baseline to beat)",
    "additive": "summed observed shifts of a combination's single perturbations",
    "ridge": "ridge regression from the gene's text embedding to the shift (GenePert)",
    "knn": "mean shift of the k training genes with the closest text embeddings",
    "scouter": "control-cell encoder + text-embedding perturbation encoder (Scouter-style, torch)",
    "similar_contexts": "each context's mean shift, weighted by the similarity of its control cells "
    "to the query's (no text)",
}
EMBEDDING_METHODS = frozenset({"ridge", "knn", "scouter"})
MISSING_VECTORS = ("error", "zero")
FORMAT = 1


class PerturbationModel:
    """Predict how cells respond to perturbing genes, from the genes' text embeddings.

    Parameters
    ----------
    method
        One of :data:`METHODS`: ``train_mean``, ``additive``, ``ridge``, ``knn``, ``scouter`` or
        ``similar_contexts``.
    embedding
        Embedder name or instance (or a :class:`~textcell.embed.GeneEmbeddings`) giving the
        perturbed genes their vectors; unused by ``train_mean`` and ``additive``.
    view
        Text view embedded.
    corpus
        Gene corpus for resolving and rendering genes; the bundled one by default.
    k
        Neighbours for ``knn``.
    seed
        Seed of the network's initialisation, its training pairs and the control cells sampled
        for predictions.
    scouter
        Options of the ``scouter`` network (:class:`~textcell.perturb.scouter.ScouterConfig`
        or a dict of its fields).
    cache
        Use the on-disk vector cache.
    missing_vectors
        A perturbed gene the embedding has no vector for (e.g. a gene without GO terms under the
        ``go`` embedder): ``error`` stops, ``zero`` gives it the zero vector, so the model knows
        nothing about it (ridge predicts its intercept, kNN the mean of every training gene).
    resolver
        A :class:`~textcell.genes.GeneResolver` to share between models (built from ``corpus``
        when not given).

    Notes
    -----
    Condition labels are ``control``, a gene ``A`` or a combination ``A+B``; genes go through
    :class:`~textcell.genes.GeneResolver`, so renamed symbols (MARCH8 → MARCHF8) keep their
    cells and a label naming no known gene stops with an error.
    """

    def __init__(
        self,
        method: str = "ridge",
        *,
        embedding=DEFAULT_MODEL,
        view: str = DEFAULT_VIEW,
        corpus: GeneCorpus | None = None,
        k: int = 5,
        seed: int = 0,
        scouter: ScouterConfig | Mapping | None = None,
        cache: bool = True,
        missing_vectors: str = "error",
        resolver: GeneResolver | None = None,
    ):
        if method not in METHODS:
            listing = "; ".join(f"{m}: {d}" for m, d in METHODS.items())
            raise InputError(f"Unknown perturbation method {method!r}. Choose one of: {listing}.")
        if k < 1:
            raise InputError(f"k must be at least 1, not {k}.")
        if missing_vectors not in MISSING_VECTORS:
            raise InputError(
                f"missing_vectors must be one of {', '.join(MISSING_VECTORS)}, not {missing_vectors!r}."
            )
        self.method = method
        self.embedding = embedding if method in EMBEDDING_METHODS else None
        self.view = view
        self.k = int(k)
        self.seed = int(seed)
        self.cache = cache
        self.missing_vectors = missing_vectors
        self.config = scouter if isinstance(scouter, ScouterConfig) else ScouterConfig(**dict(scouter or {}))
        self._corpus = corpus if corpus is not None or resolver is None else resolver.corpus
        self._resolver = resolver
        self._embedder = None
        self.fitted = False

    # ------------------------------------------------------------------ helpers
    @property
    def corpus(self) -> GeneCorpus:
        if self._corpus is None:
            self._corpus = GeneCorpus.load()
        return self._corpus

    @property
    def resolver(self) -> GeneResolver:
        if self._resolver is None:
            self._resolver = GeneResolver(self.corpus)
        return self._resolver

    @property
    def embedder(self):
        if self._embedder is None and self.embedding is not None:
            self._embedder = get_embedder(self.embedding, corpus=self.corpus, view=self.view)
        return self._embedder

    @property
    def fingerprint(self) -> str | None:
        """Fingerprint of the embedder behind the gene vectors (``None`` for the baselines)."""
        return None if self.embedder is None else self.embedder.fingerprint()

    def _vectors_for(self, entrez: Sequence[str]) -> np.ndarray:
        missing = [e for e in dict.fromkeys(entrez) if e not in self._vectors]
        if missing:
            vectors, found = gene_vectors(
                self.embedder, missing, corpus=self.corpus, view=self.view, cache=self.cache
            )
            if not found.all() and self.missing_vectors == "error":
                lacking = [
                    self.corpus.record(e).symbol for e, ok in zip(missing, found, strict=True) if not ok
                ]
                raise InputError(
                    f"The embedding {self.embedder.model_id} has no vector for {', '.join(lacking)}; "
                    "use an embedder that covers these genes, or missing_vectors='zero'."
                )
            if not found.all():
                logger.info(
                    "No %s vector for %d gene(s); they get the zero vector.",
                    self.embedder.model_id,
                    int((~found).sum()),
                )
                vectors = np.where(found[:, None], vectors, 0.0)
            self._vectors.update(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
        return np.stack([self._vectors[e] for e in entrez]) if entrez else np.zeros((0, 0), np.float32)

    def _condition_vector(self, condition: Condition) -> np.ndarray:
        return baselines.unit_rows(self._vectors_for(list(condition.genes))).sum(axis=0)

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise InputError("The model is not fitted; call fit(adata) or PerturbationModel.load(path).")

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        adata: ad.AnnData,
        *,
        condition_key: str = "perturbation",
        control: str = "control",
        context_key: str | None = None,
        condition_genes: Mapping[str, str] | None = None,
        layer: str | None = None,
        normalize: str = "auto",
        sep: str = "+",
    ) -> PerturbationModel:
        """Fit on the cells of ``adata``.

        Parameters
        ----------
        adata
            Cells × genes (raw counts or log-normalised); the genes are the readouts predicted.
        condition_key
            ``obs`` column of condition labels.
        control
            The label of control cells.
        context_key
            ``obs`` column (cell type, donor...) within which perturbed cells are compared with,
            and paired with, control cells; one context when ``None``.
        condition_genes
            Labels that are not gene names → the gene(s) they perturb (``{"stim": "IFNB1"}``).
        layer
            Expression layer instead of ``X``.
        normalize
            ``"auto"`` (counts → log1p of counts per 10,000; otherwise as given), ``"counts"`` or
            ``"none"``; the decision is kept and repeated on the data the model predicts from.
        sep
            Separator of combinations.
        """
        start = time.perf_counter()
        labels = _obs_column(adata, condition_key, "condition_key")
        if not (labels == control).any():
            found = ", ".join(map(repr, pd.unique(labels)[:10]))
            raise InputError(
                f"No cells labelled {control!r} in obs[{condition_key!r}] (found {found}); "
                "pass control=<the control label>."
            )
        contexts = (
            np.full(adata.n_obs, "all", dtype=object)
            if context_key is None
            else _obs_column(adata, context_key, "context_key")
        )
        conditions, table = resolve_conditions(
            pd.unique(labels),
            control=control,
            resolver=self.resolver,
            condition_genes=condition_genes,
            sep=sep,
        )
        for _, row in table[table["route"] != "symbol"].iterrows():
            logger.info("Perturbed gene %s resolved to %s (%s).", row["name"], row["symbol"], row["route"])
        expression, self.normalize = log_expression(adata, layer=layer, normalize=normalize)
        deltas, counts = observed_deltas(expression, labels, contexts, control=control)

        self.genes = [str(g) for g in adata.var_names]
        self.condition_key, self.control, self.context_key, self.sep = (
            condition_key,
            control,
            context_key,
            sep,
        )
        self.condition_genes = dict(condition_genes or {})
        self.resolution = table
        self.conditions = {label: conditions[label] for label in deltas.index}
        self.deltas = deltas.to_numpy(dtype=np.float64)
        self.cell_counts = counts.reindex(deltas.index).to_numpy()
        self.train_mean = baselines.train_mean(self.deltas)
        controls = labels == control
        self.control_mean = expression[controls].mean(axis=0, dtype=np.float64)
        rng = np.random.default_rng(self.seed)
        n_keep = min(int(controls.sum()), self.config.n_control_samples)
        self.control_sample = expression[rng.choice(np.flatnonzero(controls), n_keep, replace=False)]
        self._singles = self._single_deltas()
        self._vectors: dict[str, np.ndarray] = {}
        self.params: dict[str, np.ndarray] = {}
        self.net = None
        self.training = {}
        if self.method in ("ridge", "knn"):
            entrez = list(self._singles)
            if not entrez:
                raise InputError(
                    f"The {self.method} method learns from single-gene perturbations; "
                    "the training data has none."
                )
            self.params["single_entrez"] = np.array(entrez)
            self.params["single_deltas"] = np.stack([self._singles[e] for e in entrez])
            vectors = self._vectors_for(entrez)
            if self.method == "ridge":
                self.params.update(baselines.ridge_fit(vectors, self.params["single_deltas"]))
        elif self.method == "scouter":
            self._fit_scouter(expression, labels, contexts)
        elif self.method == "similar_contexts":
            means, shifts = context_shifts(expression, labels, contexts, control=control)
            self.params.update(
                context_means=means,
                context_shifts=shifts,
                temperature=np.array(baselines.choose_temperature(means, shifts)),
            )
        self.fitted = True
        self.training["seconds"] = time.perf_counter() - start
        return self

    def _single_deltas(self) -> dict[str, np.ndarray]:
        by_gene: dict[str, list[np.ndarray]] = {}
        for i, condition in enumerate(self.conditions.values()):
            if len(condition.genes) == 1:
                by_gene.setdefault(condition.genes[0], []).append(self.deltas[i])
        return {e: np.mean(rows, axis=0) for e, rows in by_gene.items()}

    def _fit_scouter(self, expression, labels, contexts) -> None:
        from .scouter import train_scouter

        codes, uniques = pd.factorize(contexts)
        is_control = labels == self.control
        controls_by_context = [np.flatnonzero(is_control & (codes == c)) for c in range(len(uniques))]
        usable = np.array([len(c) > 0 for c in controls_by_context])
        perturbed = np.flatnonzero(~is_control & np.isin(labels, list(self.conditions)) & usable[codes])
        label_index = {label: i for i, label in enumerate(self.conditions)}
        condition_vectors = np.stack([self._condition_vector(c) for c in self.conditions.values()])
        cell_embedding = condition_vectors[[label_index[label] for label in labels[perturbed]]]
        context_means = np.stack(
            [expression[c].mean(0) if len(c) else np.zeros(expression.shape[1]) for c in controls_by_context]
        )
        fill = controls_by_context[int(np.argmax(usable))]
        result = train_scouter(
            expression,
            cell_embedding,
            perturbed,
            np.array([label_index[label] for label in labels[perturbed]]),
            [c if len(c) else fill for c in controls_by_context],
            codes[perturbed],
            context_means,
            config=self.config,
            seed=self.seed,
        )
        self.net = result.net
        self.training.update(
            epochs=result.epochs,
            best_epoch=result.best_epoch,
            network_seconds=result.seconds,
            validation_loss=[float(v) for v in result.history],
            validation=result.validation,
        )

    # ------------------------------------------------------------------ predict
    def predict(
        self,
        conditions: Iterable[str] | None = None,
        *,
        adata: ad.AnnData | None = None,
        layer: str | None = None,
    ) -> pd.DataFrame:
        """Predicted mean expression (in the model's log scale), one row per condition.

        Parameters
        ----------
        conditions
            Labels to predict (``A``, ``A+B``, or labels in ``condition_genes``); the
            training conditions by default.
        adata
            Cells whose control state the prediction starts from (the control-labelled cells
            when ``adata`` has the condition column, otherwise every cell); the training
            controls by default. Must hold the model's genes.
        layer
            Expression layer of ``adata`` instead of ``X``.
        """
        predicted, _ = self.predict_with_control(conditions, adata=adata, layer=layer)
        return predicted

    def predict_with_control(
        self,
        conditions: Iterable[str] | None = None,
        *,
        adata: ad.AnnData | None = None,
        layer: str | None = None,
    ) -> tuple[pd.DataFrame, pd.Series]:
        """:meth:`predict` and the control mean the shifts were added to."""
        self._check_fitted()
        labels = list(self.conditions) if conditions is None else [str(c) for c in conditions]
        if not labels:
            raise InputError("Name at least one condition to predict.")
        control_mean, control_sample = self._controls(adata, layer)
        resolved = self._resolve(labels)
        rows = np.stack([self._shift(resolved[label], control_mean, control_sample) for label in labels])
        predicted = pd.DataFrame(
            control_mean + rows, index=pd.Index(labels, name="condition"), columns=self.genes
        )
        return predicted, pd.Series(control_mean, index=self.genes, name=self.control)

    def _resolve(self, labels: list[str]) -> dict[str, Condition]:
        known = {label: self.conditions[label] for label in labels if label in self.conditions}
        new = [label for label in labels if label not in known]
        if new:
            resolved, _ = resolve_conditions(
                new,
                control=self.control,
                resolver=self.resolver,
                condition_genes=self.condition_genes,
                sep=self.sep,
            )
            known.update(resolved)
        return known

    def _controls(self, adata, layer) -> tuple[np.ndarray, np.ndarray]:
        if adata is None:
            return self.control_mean, self.control_sample
        self.check_genes(adata.var_names)
        adata = adata[:, self.genes] if list(adata.var_names) != self.genes else adata
        if self.condition_key in adata.obs:
            adata = adata[adata.obs[self.condition_key].astype(str).to_numpy() == self.control]
            if adata.n_obs == 0:
                raise InputError(f"No {self.control!r} cells in the data given to predict from.")
        expression, _ = log_expression(adata, layer=layer, normalize=self.normalize)
        rng = np.random.default_rng(self.seed)
        n_keep = min(len(expression), self.config.n_control_samples)
        sample = expression[np.sort(rng.choice(len(expression), n_keep, replace=False))]
        return expression.mean(axis=0, dtype=np.float64), sample

    def _shift(
        self, condition: Condition, control_mean: np.ndarray, control_sample: np.ndarray
    ) -> np.ndarray:
        if condition.is_control:
            return np.zeros(len(self.genes))
        if self.method == "train_mean":
            return self.train_mean
        if self.method == "similar_contexts":
            return baselines.similar_contexts_shift(
                control_mean,
                self.params["context_means"],
                self.params["context_shifts"],
                float(self.params["temperature"]),
            )
        if self.method == "additive":
            return np.sum([self._singles.get(e, self.train_mean) for e in condition.genes], axis=0)
        if self.method == "scouter":
            from .scouter import predict_shift

            return predict_shift(
                self.net, control_sample, self._condition_vector(condition), self.config.threads
            )
        vectors = self._vectors_for(list(condition.genes))
        if self.method == "ridge":
            per_gene = baselines.ridge_predict(self.params, vectors)
        else:
            train_vectors = self._vectors_for(self.params["single_entrez"].tolist())
            per_gene = baselines.knn_predict(train_vectors, self.params["single_deltas"], vectors, self.k)
        return per_gene.sum(axis=0)

    def check_genes(self, genes: Iterable[str]) -> None:
        """Raise unless ``genes`` are the model's readout genes (in any order)."""
        self._check_fitted()
        given = [str(g) for g in genes]
        if set(given) != set(self.genes) or len(given) != len(self.genes):
            missing = [g for g in self.genes if g not in set(given)]
            extra = [g for g in given if g not in set(self.genes)]
            raise InputError(
                f"The model predicts {len(self.genes):,} genes but the data has {len(given):,} "
                f"({len(missing):,} of the model's missing, e.g. {missing[:5]}; {len(extra):,} others, "
                f"e.g. {extra[:5]}). Subset the data to the model's genes (model.genes) or refit."
            )

    # ------------------------------------------------------------------ files
    def metadata(self) -> dict:
        """Everything but the arrays: method, options, embedding provenance, conditions, genes."""
        self._check_fitted()
        embedder = self.embedder
        return {
            "format": FORMAT,
            "textcell_version": version("textcell"),
            "method": self.method,
            "seed": self.seed,
            "k": self.k,
            "view": self.view,
            "missing_vectors": self.missing_vectors,
            "scouter": self.config.to_dict(),
            "embedding": None
            if embedder is None
            else {
                "spec": self.embedding if isinstance(self.embedding, str) else None,
                "model": embedder.model_id,
                "backend": embedder.name,
                "fingerprint": embedder.fingerprint(),
            },
            "corpus_version": self.corpus.version,
            "condition_key": self.condition_key,
            "control": self.control,
            "context_key": self.context_key,
            "sep": self.sep,
            "normalize": self.normalize,
            "condition_genes": self.condition_genes,
            "conditions": {label: list(c.genes) for label, c in self.conditions.items()},
            "resolution": self.resolution.to_dict(orient="records"),
            "training": self.training,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write one ``.npz`` (arrays and JSON metadata, no pickle); it appears only when complete."""
        path = Path(path)
        if path.suffix != ".npz":
            raise InputError(f"Save a perturbation model as .npz, not {path.suffix!r}.")
        arrays = {
            "genes": np.array(self.genes),
            "deltas": self.deltas,
            "cell_counts": self.cell_counts,
            "control_mean": self.control_mean,
            "control_sample": self.control_sample,
            "vector_entrez": np.array(list(self._vectors), dtype=str),
            "vectors": np.stack(list(self._vectors.values()))
            if self._vectors
            else np.zeros((0, 0), np.float32),
            **{f"param/{k}": v for k, v in self.params.items()},
        }
        if self.net is not None:
            from .scouter import state_arrays

            arrays.update({f"net/{k}": v for k, v in state_arrays(self.net).items()})
        return write_npz(path, arrays, self.metadata())

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        genes: Iterable[str] | None = None,
        embedding=None,
        corpus: GeneCorpus | None = None,
    ) -> PerturbationModel:
        """Read a model written by :meth:`save`.

        ``genes`` (e.g. ``adata.var_names``) must be the genes it was fitted on; ``embedding``
        (default: the embedder named at fit time) must have the fingerprint it was fitted with.
        """
        arrays, meta = read_npz(path, "textcell perturbation model")
        if meta.get("format") != FORMAT:
            raise InputError(f"{path} has model format {meta.get('format')}; this textcell reads {FORMAT}.")
        stored = meta["embedding"]
        model = cls(
            meta["method"],
            embedding=None,
            view=meta["view"],
            corpus=corpus,
            k=meta["k"],
            seed=meta["seed"],
            scouter=meta["scouter"],
            missing_vectors=meta.get("missing_vectors", "error"),
        )
        if stored is not None:
            if embedding is None and stored["spec"] is None:
                raise InputError(
                    f"{path} was fitted with an embedder object ({stored['model']}); pass it as embedding=."
                )
            model.embedding = stored["spec"] if embedding is None else embedding
            if model.fingerprint != stored["fingerprint"]:
                raise InputError(
                    f"{path} was fitted with gene embeddings {stored['model']} (fingerprint "
                    f"{stored['fingerprint']}), but the embedder given has fingerprint {model.fingerprint} "
                    f"({model.embedder.model_id}). Load with the embedder it was fitted with, or refit."
                )
        model.genes = arrays["genes"].tolist()
        for key in ("condition_key", "control", "context_key", "sep", "condition_genes"):
            setattr(model, key, meta[key])
        # models saved before the parameter was renamed store "normalisation": log1p_cp10k | none
        model.normalize = meta.get("normalize") or {"log1p_cp10k": "counts"}.get(
            meta["normalisation"], "none"
        )
        model.conditions = {label: Condition(label, tuple(g)) for label, g in meta["conditions"].items()}
        model.resolution = pd.DataFrame(
            meta["resolution"], columns=["name", "entrez", "symbol", "route", "candidates"]
        )
        model.training = meta["training"]
        model.deltas, model.cell_counts = arrays["deltas"], arrays["cell_counts"]
        model.control_mean, model.control_sample = arrays["control_mean"], arrays["control_sample"]
        model.train_mean = baselines.train_mean(model.deltas)
        model._singles = model._single_deltas()
        model._vectors = dict(zip(arrays["vector_entrez"].tolist(), arrays["vectors"], strict=True))
        model.params = {k.removeprefix("param/"): v for k, v in arrays.items() if k.startswith("param/")}
        model.net = None
        if meta["method"] == "scouter":
            from .scouter import network_from_arrays

            net_arrays = {k.removeprefix("net/"): v for k, v in arrays.items() if k.startswith("net/")}
            dim = next(iter(model._vectors.values())).shape[0]
            model.net = network_from_arrays(net_arrays, len(model.genes), dim, model.config)
        model.fitted = True
        if genes is not None:
            model.check_genes(genes)
        return model

    def __repr__(self) -> str:
        state = f"{len(self.conditions)} conditions, {len(self.genes)} genes" if self.fitted else "not fitted"
        return f"PerturbationModel(method={self.method!r}, {state})"


def _obs_column(adata: ad.AnnData, key: str, name: str) -> np.ndarray:
    if key not in adata.obs:
        raise InputError(
            f"No obs[{key!r}] column; pass {name}= one of: "
            f"{', '.join(map(str, adata.obs.columns)) or 'none'}."
        )
    values = adata.obs[key]
    if values.isna().any():
        raise InputError(f"obs[{key!r}] has missing values; label or drop those cells.")
    return values.astype(str).to_numpy(dtype=object)
