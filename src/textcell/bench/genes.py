"""Gene-level benchmark: can a linear model read a gene property off the gene's text embedding?

Tasks (``../shared/data/genes/tasks/``; genes are identified by Ensembl ID where the file has
one, else by symbol; genes that do not resolve or get no vector are left out, and ``n_genes``
says how many were scored):

- binary gene properties (ROC-AUC): ``dosage_sensitive_tfs``, ``bivalent_vs_no_methyl``,
  ``bivalent_vs_lys4_only``, ``tf_range_geneformer``, ``tf_range_chen2020``;
- ``gene_types``, the gene biotype (accuracy and macro F1). Its 69,881 genes are too many to embed
  with a sentence-transformers model on a laptop, so among the genes that resolve (about half:
  many of its Ensembl IDs are retired) only classes with at least 100 genes are kept, and at most
  ``max_genes_per_class`` genes are drawn per class (``numpy.random.default_rng(seed)``): 16
  classes, 3,787 genes with the defaults;
- ``ggi``, gene–gene interaction (ROC-AUC) on the fixed train/test split of Gene2vec. A pair is
  the elementwise product and absolute difference of the two L2-normalised gene vectors. At
  most ``max_train_pairs`` training pairs are drawn (seeded); the classifier is fitted once and
  its spread is that of ``n_repeats`` seeded bootstrap resamples of the test pairs;
  ``n_genes`` counts the test pairs scored.

Classifiers (``classifier`` column), the two GenePT published numbers for:

- ``logistic``: VarianceThreshold(1e-8) + StandardScaler + LogisticRegression(C=0.1) (multinomial
  for ``gene_types``), on every task;
- ``forest``: RandomForestClassifier(500 trees, random_state=seed) on the binary gene properties
  (not on ``gene_types`` and ``ggi``, where GenePT reported logistic regression only).

The gene property tasks are scored in RepeatedStratifiedKFold(n_splits, n_repeats,
random_state=seed); each number is a :func:`textcell.bench.stats.summarize` of the fold scores.

Embeddings (``kind``):

- ``text``: every model × view. On ``gene_types`` and ``ggi`` (thousands of genes) models other
  than TF-IDF get the ``card`` view only: the default model's card vectors ship with textcell,
  while other views would cost thousands of model calls at ~40 texts/s on 2 CPU cores. TF-IDF is
  fast and gets every view on every task;
- ``control``: random vectors (one per text, :class:`~textcell.embed.RandomEmbedder`) and the
  ``name`` view (symbol and full name only) of the first model;
- ``leakage``: "text availability", two features per gene — whether it has a RefSeq summary and
  log(1 + length of its ``full`` text); for pairs their sum and absolute difference. A text
  embedding that barely beats it mostly encodes which genes are well described;
- ``published``: GenePT's numbers (OpenAI ada-002 on NCBI text, 5-fold CV, per classifier), with
  ``sd``/``ci`` NaN and ``n_genes``/``n`` 0: measured elsewhere, on other gene sets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import VarianceThreshold
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, normalize
from threadpoolctl import threadpool_limits

from .._progress import progress
from ..datasets import shared_file
from ..embed import RandomEmbedder, gene_vectors, get_embedder
from ..errors import InputError
from ..genes import GeneCorpus, GeneResolver
from .stats import format_summary, summarize

logger = logging.getLogger("textcell")

COLUMNS = [
    "task",
    "metric",
    "classifier",
    "embedding",
    "kind",
    "n_genes",
    "mean",
    "sd",
    "ci_low",
    "ci_high",
    "n",
]
PUBLISHED = "GenePT (ada-002, published)"
LEAKAGE = "text availability"
FAST_BACKENDS = frozenset({"tfidf", "random"})  # cheap enough to run every view on every task
LARGE_TASKS = frozenset({"gene_types", "ggi"})
MIN_GENES_PER_CLASS = 100
SCORERS = {"roc_auc": "roc_auc", "accuracy": "accuracy", "macro_f1": "f1_macro"}
NEAR_CONSTANT = 1e-8  # feature variance; unit-length 384-d vectors have about 1/384 per dimension


@dataclass(frozen=True)
class GeneTask:
    file: str  # under genes/tasks/ of the shared data; for pairs, the stem of ggi_{train,test}
    metrics: tuple[str, ...]
    published: dict[str, dict[str, float]]  # GenePT's numbers: classifier → metric → value

    @property
    def pairs(self) -> bool:
        return not self.file.endswith((".csv", ".csv.gz"))


def _auc(logistic: float, forest: float) -> dict[str, dict[str, float]]:
    return {"logistic": {"roc_auc": logistic}, "forest": {"roc_auc": forest}}


TASKS = {
    "dosage_sensitive_tfs": GeneTask("dosage_sensitive_tfs.csv", ("roc_auc",), _auc(0.889, 0.899)),
    "bivalent_vs_no_methyl": GeneTask("bivalent_vs_no_methyl.csv", ("roc_auc",), _auc(0.912, 0.922)),
    "bivalent_vs_lys4_only": GeneTask("bivalent_vs_lys4_only.csv", ("roc_auc",), _auc(0.941, 0.952)),
    "tf_range_geneformer": GeneTask("tf_range_geneformer.csv", ("roc_auc",), {}),
    "tf_range_chen2020": GeneTask("tf_range_chen2020.csv", ("roc_auc",), _auc(0.726, 0.635)),
    "gene_types": GeneTask("gene_types.csv.gz", ("accuracy", "macro_f1"), {"logistic": {"accuracy": 0.956}}),
    "ggi": GeneTask("ggi", ("roc_auc",), {"logistic": {"roc_auc": 0.83}}),
}


@dataclass(frozen=True)
class _Embedding:
    label: str
    kind: str
    model: object = None  # a name or an Embedder; None for the leakage baseline
    view: str = "card"


def gene_benchmark(
    *,
    models: Sequence = ("all-MiniLM-L6-v2", "tfidf"),
    views: Sequence[str] = ("card", "summary", "full"),
    tasks: Sequence[str] | None = None,
    classifiers: Sequence[str] = ("logistic", "forest"),
    n_splits: int = 5,
    n_repeats: int = 5,
    seed: int = 0,
    max_genes_per_class: int = 300,
    max_train_pairs: int = 50_000,
    corpus: GeneCorpus | None = None,
) -> pd.DataFrame:
    """Score text embeddings, controls and baselines on the gene tasks; one tidy row per result.

    Parameters
    ----------
    models
        Embedding models (names or Embedder instances); the first one also gives the ``name``
        view control. May be empty (controls and baselines only).
    views
        Text views of the model × view grid (see the module docstring for the large tasks).
    tasks
        Task names (default: all of :data:`TASKS`).
    classifiers
        Names from :data:`CLASSIFIERS`; ``forest`` only runs on the binary gene properties.
    n_splits, n_repeats, seed
        Cross-validation folds and repeats, and the seed of every split and draw; for ``ggi``
        ``n_repeats`` is the number of bootstrap resamples of the test pairs.
    max_genes_per_class
        Genes drawn per class of ``gene_types``.
    max_train_pairs
        Training pairs drawn for ``ggi``.
    corpus
        Gene corpus; default the bundled one with the shared RefSeq summaries attached.

    Returns
    -------
    Columns ``task, metric, classifier, embedding, kind, n_genes, mean, sd, ci_low, ci_high, n``.
    """
    tasks = list(TASKS) if tasks is None else list(tasks)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise InputError(f"Unknown gene task(s) {unknown}; valid tasks: {', '.join(TASKS)}.")
    unknown = [c for c in classifiers if c not in CLASSIFIERS]
    if unknown or not classifiers:
        raise InputError(f"Unknown classifier(s) {unknown}; choose from {', '.join(CLASSIFIERS)}.")
    if corpus is None:
        corpus = GeneCorpus.load().with_summaries(shared_file("genes/refseq_summaries_human.jsonl.gz"))
    resolver = GeneResolver(corpus)
    embedders = _Embedders(corpus)
    jobs = [(task, e) for task in tasks for e in _grid(task, models, views, embedders)]
    logger.info("Gene benchmark: %d tasks, %d embedding runs (seed %d).", len(tasks), len(jobs), seed)

    rows, data = [], {}
    for task, embedding in progress(jobs, total=len(jobs), desc="gene benchmark", unit="run"):
        if task not in data:
            data = {task: _load(task, resolver, seed, max_genes_per_class, max_train_pairs)}
        genes = data[task][0] if TASKS[task].pairs else data[task]["entrez"].tolist()
        matrix, found = _features(embedding, embedders, corpus)(genes)
        for classifier in _classifiers_for(task, classifiers):
            model = CLASSIFIERS[classifier](seed)
            if TASKS[task].pairs:
                leakage = embedding.kind == "leakage"
                scores, n_genes = _pair_scores(*data[task], matrix, found, model, leakage, n_repeats, seed)
            else:
                folds = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
                scores, n_genes = _cv_scores(data[task], matrix, found, model, TASKS[task].metrics, folds)
            for metric, values in scores.items():
                summary = summarize(values)
                result = f"{task} · {embedding.label} · {classifier} · {metric}: {format_summary(summary)}"
                logger.info("%s (n_genes %d)", result, n_genes)
                row = dict(task=task, metric=metric, classifier=classifier, embedding=embedding.label)
                rows.append(row | {"kind": embedding.kind, "n_genes": n_genes} | summary)
    for task in tasks:
        for classifier in _classifiers_for(task, classifiers):
            for metric, value in TASKS[task].published.get(classifier, {}).items():
                row = dict(
                    task=task, metric=metric, classifier=classifier, embedding=PUBLISHED, kind="published"
                )
                rows.append(row | dict(n_genes=0, mean=value, sd=np.nan, ci_low=np.nan, ci_high=np.nan, n=0))
    return pd.DataFrame(rows, columns=COLUMNS)


def summary_table(frame: pd.DataFrame) -> str:
    """A markdown table: one row per task × metric × classifier, one column per embedding
    (mean ± sd)."""
    embeddings = list(dict.fromkeys(frame["embedding"]))
    header = ["task", "metric", "classifier", "genes", *embeddings]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (task, metric, classifier), group in frame.groupby(["task", "metric", "classifier"], sort=False):
        cells = {
            r.embedding: f"{r.mean:.3f}" if r.kind == "published" else format_summary(r._asdict())
            for r in group.itertuples()
        }
        genes = int(group.loc[group["kind"] != "published", "n_genes"].max())
        row = [task, metric, classifier, str(genes), *(cells.get(e, "-") for e in embeddings)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- the grid
class _Embedders:
    """One embedder per model, and one per view for embedders fitted on one view's texts (TF-IDF,
    or a combined embedder with such a member), so each view is scored with its own fit."""

    def __init__(self, corpus: GeneCorpus):
        self.corpus, self._made = corpus, {}

    def get(self, model, view: str):
        name = model if isinstance(model, str) else id(model)
        base = self._made.get((name, None))
        if base is None:
            base = self._made[(name, None)] = get_embedder(model, corpus=self.corpus, view="card")
        if not isinstance(model, str) or not _fitted_on_a_view(base):
            return base  # the same model for every view (or an instance the caller made): reuse it
        key = (name, view)
        if key not in self._made:
            self._made[key] = get_embedder(model, corpus=self.corpus, view=view)
        return self._made[key]


def _fitted_on_a_view(embedder) -> bool:
    """Whether the embedder, or one of a combined embedder's members, was fitted on one view."""
    return hasattr(embedder, "view") or any(_fitted_on_a_view(m) for m in getattr(embedder, "members", ()))


def _label(model) -> str:
    return model if isinstance(model, str) else str(getattr(model, "model_id", model))


def _grid(task: str, models: Sequence, views: Sequence[str], embedders: _Embedders) -> list[_Embedding]:
    grid = []
    for model in models:
        fast = embedders.get(model, "card").name in FAST_BACKENDS
        for view in views:
            if fast or task not in LARGE_TASKS or view == "card":
                grid.append(_Embedding(f"{_label(model)} / {view}", "text", model, view))
    grid.append(_Embedding("random", "control", RandomEmbedder(dim=384)))
    if models:
        grid.append(_Embedding(f"{_label(models[0])} / name", "control", models[0], "name"))
    grid.append(_Embedding(LEAKAGE, "leakage"))
    return grid


def _features(embedding: _Embedding, embedders: _Embedders, corpus: GeneCorpus) -> Callable:
    """genes (Entrez IDs) → (one row of features per gene, mask of the genes that have them)."""
    if embedding.kind == "leakage":
        return lambda genes: (_availability(corpus, genes), np.ones(len(genes), dtype=bool))
    embedder = embedders.get(embedding.model, embedding.view)
    return lambda genes: gene_vectors(embedder, genes, corpus=corpus, view=embedding.view)


# ---------------------------------------------------------------------- data
def _resolve(resolver: GeneResolver, ids: Sequence[str]) -> np.ndarray:
    """Entrez ID of every identifier ("" where it does not resolve)."""
    table = resolver.resolve(list(dict.fromkeys(ids)), species="human").table
    return table["entrez"].reindex(list(ids)).to_numpy(dtype=object)


def _load(task: str, resolver: GeneResolver, seed: int, max_per_class: int, max_train_pairs: int):
    if TASKS[task].pairs:
        return _load_pairs(TASKS[task].file, resolver, seed, max_train_pairs)
    table = pd.read_csv(shared_file(f"genes/tasks/{TASKS[task].file}"))
    table = table.dropna(subset=["label"])
    ids = table["ensembl_id"].fillna(table["symbol"]).astype(str).str.strip()
    genes = pd.DataFrame({"entrez": _resolve(resolver, ids), "label": table["label"].to_numpy()})
    genes = genes[genes["entrez"] != ""].drop_duplicates("entrez")
    logger.info("%s: %d of %d genes resolve.", task, len(genes), len(table))
    if task == "gene_types":
        sizes = genes["label"].value_counts()
        genes = genes[genes["label"].isin(sizes.index[sizes >= MIN_GENES_PER_CLASS])]
        rng = np.random.default_rng(seed)
        genes = pd.concat(
            group.iloc[np.sort(rng.choice(len(group), min(len(group), max_per_class), replace=False))]
            for _, group in genes.groupby("label")
        )
        logger.info("gene_types: %d classes, %d genes drawn.", genes["label"].nunique(), len(genes))
    return genes.reset_index(drop=True)


def _load_pairs(stem: str, resolver: GeneResolver, seed: int, max_train_pairs: int):
    """The genes, and (row of gene a, row of gene b, label) arrays of the train and test pairs."""
    train, test = (pd.read_csv(shared_file(f"genes/tasks/{stem}_{s}.csv.gz")) for s in ("train", "test"))
    train, test = (p.dropna().astype({"gene_a": str, "gene_b": str}) for p in (train, test))
    if len(train) > max_train_pairs:
        pick = np.random.default_rng(seed).choice(len(train), max_train_pairs, replace=False)
        train = train.iloc[np.sort(pick)]
    symbols = pd.concat([p[c] for p in (train, test) for c in ("gene_a", "gene_b")]).str.strip()
    entrez = dict(zip(symbols, _resolve(resolver, symbols), strict=True))
    genes = [e for e in dict.fromkeys(entrez.values()) if e]
    row = {e: i for i, e in enumerate(genes)}

    def rows(pairs):
        a, b = (pairs[c].str.strip().map(entrez).map(row) for c in ("gene_a", "gene_b"))
        keep = (a.notna() & b.notna()).to_numpy()
        return a[keep].to_numpy(int), b[keep].to_numpy(int), pairs["label"].to_numpy()[keep]

    logger.info("%s: %d training and %d test pairs, %d genes.", stem, len(train), len(test), len(genes))
    return genes, rows(train), rows(test)


def _availability(corpus: GeneCorpus, genes: Sequence[str]) -> np.ndarray:
    """Per gene: has a RefSeq summary (0/1) and log(1 + length of its ``full`` text)."""
    has_summary = [e in corpus.summaries for e in genes]
    length = [len(t) for t in corpus.render(genes, view="full")]
    return np.column_stack([has_summary, np.log1p(length)]).astype(np.float32)


# ---------------------------------------------------------------------- scoring
def _logistic(seed: int):
    """Features that are (nearly) constant are dropped before standardising: scaled up by 1e8,
    their rounding noise would move whole folds (MiniLM has three such dimensions)."""
    return make_pipeline(
        VarianceThreshold(NEAR_CONSTANT), StandardScaler(), LogisticRegression(C=0.1, max_iter=5000)
    )


def _forest(seed: int):
    return RandomForestClassifier(n_estimators=500, random_state=seed, n_jobs=-1)


CLASSIFIERS = {"logistic": _logistic, "forest": _forest}


def _classifiers_for(task: str, classifiers: Sequence[str]) -> list[str]:
    return [c for c in classifiers if c == "logistic" or task not in LARGE_TASKS]


def _one_blas_thread():
    """These fits are small: threaded BLAS makes them several times slower (measured on 2 cores)."""
    return threadpool_limits(limits=1, user_api="blas")


def _cv_scores(
    genes: pd.DataFrame, matrix: np.ndarray, found: np.ndarray, model, metrics: Sequence[str], folds
) -> tuple[dict[str, list[float]], int]:
    _, labels = np.unique(genes["label"].to_numpy()[found], return_inverse=True)
    with _one_blas_thread():
        result = cross_validate(
            model, matrix[found], labels, cv=folds, scoring={m: SCORERS[m] for m in metrics}
        )
    return {m: result[f"test_{m}"].tolist() for m in metrics}, int(found.sum())


def _pair_features(a: np.ndarray, b: np.ndarray, leakage: bool) -> np.ndarray:
    if leakage:
        return np.hstack([a + b, np.abs(a - b)])
    a, b = normalize(a), normalize(b)
    return np.hstack([a * b, np.abs(a - b)])


def _pair_scores(genes, train, test, matrix, found, model, leakage: bool, n_repeats: int, seed: int):
    def usable(pairs):
        keep = found[pairs[0]] & found[pairs[1]]
        return _pair_features(matrix[pairs[0][keep]], matrix[pairs[1][keep]], leakage), pairs[2][keep]

    (x_train, y_train), (x_test, y_test) = usable(train), usable(test)
    with _one_blas_thread():
        probability = model.fit(x_train, y_train).predict_proba(x_test)[:, 1]
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(y_test), len(y_test)) for _ in range(n_repeats)]
    return {"roc_auc": [roc_auc_score(y_test[d], probability[d]) for d in draws]}, len(y_test)
