"""The knowledge benchmark: do gene vectors carry biology, or only the spelling of gene names?

Two tasks, on knowledge the gene texts do not hold (the corpus carries GO, not Reactome or
interaction data):

- ``reactome``: for every protein-coding gene in a Reactome pathway of 5–200 genes
  (``../shared/data/genes/networks/reactome_pathways_human.gmt``), the fraction of its ``k = 10``
  nearest neighbours (cosine, searched among *all* protein-coding genes that have a vector) that
  share a pathway with it. A gene without a vector scores 0. Mean over genes, with a bootstrap
  over genes (``N_BOOTSTRAP`` draws, the same draws for every embedding, so differences are
  paired); ``chance`` is what random neighbours among the same candidates would score.
- ``ppi``: Lit-BM-17 binary protein interactions (``networks/litbm17_pairs.tsv.gz``), logistic
  regression on pair features, ROC-AUC over ``PPI_REPEATS`` seeded splits, in three protocols
  (:data:`PROTOCOLS`): GenePT's (random negative pairs, random split of the pairs, the sum of the
  two vectors) — in which node degree alone does well, since interacting proteins are the
  well-studied hubs — and two honest ones: negatives that pair the same genes as often as the
  positives do (so degree carries no signal), and a gene-disjoint split (no test gene in any
  training pair), with the sum or with the elementwise product and absolute difference.
  Genes without a vector have zero features; every row scores the same pairs.

**Validation and report halves.** A fixed seeded split (``SPLIT_SEED``) puts half of the
pathways, and half of the interactome's genes, in a validation half and the rest in a report
half. Every choice (view, model, the default) is made on the validation half; the report half
gives the numbers to quote. Reactome is nested, so related pathways fall on both sides: the halves
are not independent, only never used for the same purpose.

Rows (``kind``): ``text`` (model × view), ``go`` (no text), and the controls — ``random``
vectors, the ``name`` view (symbol and full name), ``lexical`` (character 2–4-grams of the
symbol and aliases, TF-IDF + SVD: spelling only), ``text availability`` (has a RefSeq summary;
log length of the ``full`` text) and, for interactions, ``degree`` (log degree of both genes in
the whole Lit-BM-17 network: an oracle feature, the bar GenePT's protocol fails to clear).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import normalize

from .._defaults import DEFAULT_MODEL, DEFAULT_VIEW, PREVIOUS_DEFAULT
from .._progress import progress
from ..datasets import shared_file
from ..embed import RandomEmbedder, gene_vectors, get_embedder
from ..errors import InputError
from ..genes import GeneCorpus, GeneResolver
from .genes import _availability, _logistic, _one_blas_thread, _pair_features
from .stats import format_summary, summarize

logger = logging.getLogger("textcell")

K = 10
PATHWAY_SIZE = (5, 200)
SPLIT_SEED = 0
HALVES = ("validation", "report")
N_BOOTSTRAP = 1000
PPI_REPEATS = 5
TEST_FRACTION = 0.5  # of a half's genes, in the gene-disjoint split
TEST_PAIRS = 0.2  # of a half's pairs, in GenePT's random pair split
LEXICAL_DIM = 256
AVAILABILITY = "text availability"
LEXICAL = "lexical (symbol and aliases)"
DEGREE = "degree only"


@dataclass(frozen=True)
class Protocol:
    label: str
    negatives: str  # "random" or "matched" (each gene as often as among the positives)
    split: str  # "pairs" (random split of the pairs) or "genes" (gene-disjoint)
    features: str  # "sum" or "pair" (elementwise product and |difference|)


PROTOCOLS = {
    "genept": Protocol("GenePT: random negatives, random pair split, sum", "random", "pairs", "sum"),
    "matched_sum": Protocol("degree-matched negatives, gene-disjoint split, sum", "matched", "genes", "sum"),
    "matched_pair": Protocol(
        "degree-matched negatives, gene-disjoint split, product and |difference|", "matched", "genes", "pair"
    ),
}
HEADLINE_PROTOCOL = "matched_pair"


@dataclass(frozen=True)
class Candidate:
    """One row of the benchmark: a model and view, or a control."""

    label: str
    kind: str  # text, go, random, name, lexical, availability, degree
    model: object = None
    view: str = "card"


# ---------------------------------------------------------------------- data
@dataclass
class KnowledgeData:
    """The gene universe, the pathways of each half, and the interaction splits."""

    universe: list[str]  # Entrez IDs of the protein-coding genes: neighbour candidates
    pathways: dict[str, list[tuple[str, list[int]]]]  # half -> (Reactome ID, universe rows)
    ppi_genes: list[str]  # Entrez IDs of the interactome
    degree: np.ndarray  # per ppi gene, in the whole network
    ppi_splits: dict[tuple[str, str, int], tuple]  # (protocol, half, repeat) -> pairs and labels


def load_data(corpus: GeneCorpus, *, seed: int = SPLIT_SEED, repeats: int = PPI_REPEATS) -> KnowledgeData:
    """Read Reactome and Lit-BM-17, map them onto the corpus, and make the fixed splits."""
    resolver = GeneResolver(corpus)
    cols = corpus.columns
    universe = [e for e, t in zip(cols["entrez"], cols["type"], strict=True) if t == "protein-coding"]
    pathways = split_in_halves(read_pathways(resolver, universe), seed)
    pairs, ppi_genes = read_interactions(resolver)
    degree = np.bincount(pairs.ravel(), minlength=len(ppi_genes)).astype(np.float64)
    rng = np.random.default_rng(seed)
    in_report = np.zeros(len(ppi_genes), dtype=bool)
    in_report[rng.permutation(len(ppi_genes))[: len(ppi_genes) // 2]] = True
    halves = {"validation": np.flatnonzero(~in_report), "report": np.flatnonzero(in_report)}
    known = {(int(a), int(b)) for a, b in pairs} | {(int(b), int(a)) for a, b in pairs}
    splits = {}
    for name, protocol in PROTOCOLS.items():
        for half, genes in halves.items():
            for repeat in range(repeats):
                split_rng = np.random.default_rng([seed, repeat, HALVES.index(half)])
                splits[name, half, repeat] = interaction_split(pairs, genes, known, protocol, split_rng)
    logger.info(
        "Knowledge benchmark: %d protein-coding genes, %s pathways, %d interactions among %d genes.",
        len(universe),
        " / ".join(f"{len(p)} {h}" for h, p in pathways.items()),
        len(pairs),
        len(ppi_genes),
    )
    return KnowledgeData(universe, pathways, ppi_genes, degree, splits)


def read_pathways(resolver: GeneResolver, universe: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Reactome pathways as rows of ``universe``, keeping those of ``PATHWAY_SIZE`` genes there."""
    row = {e: i for i, e in enumerate(universe)}
    lines = shared_file("genes/networks/reactome_pathways_human.gmt").read_text().splitlines()
    entries = [line.split("\t") for line in lines if line.strip()]
    symbols = sorted({s for entry in entries for s in entry[2:] if s})
    entrez = resolver.resolve(symbols, species="human").matched
    out = {}
    for entry in entries:
        genes = sorted({row[entrez[s]] for s in entry[2:] if s in entrez and entrez[s] in row})
        if PATHWAY_SIZE[0] <= len(genes) <= PATHWAY_SIZE[1]:
            out[entry[1]] = genes
    return sorted(out.items())


def split_in_halves(pathways: list, seed: int) -> dict[str, list]:
    """The pathways in a seeded random order, first half validation, second half report."""
    order = np.random.default_rng(seed).permutation(len(pathways))
    middle = len(pathways) // 2
    return {
        "validation": [pathways[i] for i in sorted(order[:middle])],
        "report": [pathways[i] for i in sorted(order[middle:])],
    }


def read_interactions(resolver: GeneResolver) -> tuple[np.ndarray, list[str]]:
    """Lit-BM-17 pairs as rows of a gene list (Entrez IDs), self-pairs and duplicates dropped."""
    table = pd.read_csv(shared_file("genes/networks/litbm17_pairs.tsv.gz"), sep="\t")
    ids = pd.concat([table["ensembl_gene_id_a"], table["ensembl_gene_id_b"]]).astype(str).unique().tolist()
    entrez = resolver.resolve(ids, species="human").matched
    found = [
        tuple(sorted((entrez[a], entrez[b])))
        for a, b in zip(table["ensembl_gene_id_a"], table["ensembl_gene_id_b"], strict=True)
        if a in entrez and b in entrez and entrez[a] != entrez[b]
    ]
    unique = sorted(set(found))
    genes = sorted({g for pair in unique for g in pair}, key=int)
    row = {g: i for i, g in enumerate(genes)}
    return np.array([(row[a], row[b]) for a, b in unique], dtype=np.int64), genes


def interaction_split(pairs: np.ndarray, half: np.ndarray, known: set, protocol: Protocol, rng):
    """Training and test pairs with labels: ``(train_pairs, train_labels, test_pairs, test_labels)``.

    Gene-disjoint: a random ``TEST_FRACTION`` of the half's genes are the test genes; the test
    positives are the pairs among them, the training positives every pair without a test gene.
    Pair split: 20% of the pairs inside the half are the test positives, every other pair trains.
    """
    inside = np.isin(pairs, half)
    if protocol.split == "genes":
        test_genes = rng.choice(half, int(len(half) * TEST_FRACTION), replace=False)
        touches = np.isin(pairs, test_genes)
        test, train = pairs[touches.all(axis=1)], pairs[~touches.any(axis=1)]
    else:
        candidates = np.flatnonzero(inside.all(axis=1))
        chosen = rng.choice(candidates, int(len(candidates) * TEST_PAIRS), replace=False)
        is_test = np.zeros(len(pairs), dtype=bool)
        is_test[chosen] = True
        test, train = pairs[is_test], pairs[~is_test]
    sides = []
    for positives in (train, test):
        negatives = _negatives(positives, known, protocol.negatives, rng)
        both = np.vstack([positives, negatives])
        labels = np.r_[np.ones(len(positives)), np.zeros(len(negatives))].astype(np.int8)
        sides += [both, labels]
    return tuple(sides)


def _negatives(positives: np.ndarray, known: set, kind: str, rng, tries: int = 50) -> np.ndarray:
    """As many non-interacting pairs as ``positives``: ``matched`` re-pairs the positives'
    endpoints at random (each gene keeps its degree), ``random`` draws genes uniformly."""
    genes = np.unique(positives)
    ends = rng.permutation(positives.ravel()) if kind == "matched" else rng.choice(genes, positives.size)
    out, seen = [], set()
    for _ in range(tries):
        candidates = ends.reshape(-1, 2)
        bad = []
        for a, b in candidates:
            key = (min(a, b), max(a, b))
            if a == b or (int(a), int(b)) in known or key in seen:
                bad.extend((a, b))
            else:
                seen.add(key)
                out.append(key)
        if len(bad) < 2:
            break
        ends = rng.permutation(bad) if kind == "matched" else rng.choice(genes, len(bad))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


# ---------------------------------------------------------------------- features
def lexical_vectors(corpus: GeneCorpus, entrez: Sequence[str], *, dim: int = LEXICAL_DIM) -> np.ndarray:
    """Spelling only: TF-IDF of character 2–4-grams of each gene's symbol and aliases, truncated SVD."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    records = [corpus.record(e) for e in entrez]
    names = [" ".join([r.symbol, *r.aliases]) for r in records]
    counts = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), lowercase=False, sublinear_tf=True)
    matrix = counts.fit_transform(names)
    svd = TruncatedSVD(n_components=min(dim, matrix.shape[1] - 1), random_state=0)
    return normalize(svd.fit_transform(matrix)).astype(np.float32)


class _Vectors:
    """Each candidate's vectors for a list of genes (zeros and ``found`` False where it has none)."""

    def __init__(self, corpus: GeneCorpus):
        self.corpus, self._embedders = corpus, {}

    def __call__(self, candidate: Candidate, genes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if candidate.kind == "lexical":
            return lexical_vectors(self.corpus, genes), np.ones(len(genes), dtype=bool)
        if candidate.kind == "availability":
            features = _availability(self.corpus, genes)
            return (features - features.mean(0)) / features.std(0), np.ones(len(genes), dtype=bool)
        key = (candidate.model if isinstance(candidate.model, str) else id(candidate.model), candidate.view)
        if key not in self._embedders:
            self._embedders[key] = get_embedder(candidate.model, corpus=self.corpus, view=candidate.view)
        embedder = self._embedders[key]
        return gene_vectors(embedder, list(genes), corpus=self.corpus, view=candidate.view)


def nearest(vectors: np.ndarray, found: np.ndarray, k: int = K, *, metric: str = "cosine") -> np.ndarray:
    """The ``k`` nearest candidates (genes with ``found``) of every gene with a vector, itself
    excluded; rows of genes without a vector are -1."""
    out = np.full((len(vectors), k), -1, dtype=np.int64)
    candidates = np.flatnonzero(found)
    if metric == "euclidean":
        from sklearn.neighbors import NearestNeighbors

        index = NearestNeighbors(n_neighbors=k + 1).fit(vectors[candidates])
        hits = index.kneighbors(vectors[candidates], return_distance=False)
        out[candidates] = [
            [c for c in candidates[h] if c != i][:k] for i, h in zip(candidates, hits, strict=True)
        ]
        return out
    unit = normalize(vectors[candidates])
    for start in range(0, len(candidates), 2048):
        block = unit[start : start + 2048] @ unit.T
        block[np.arange(len(block)), np.arange(start, start + len(block))] = -np.inf
        top = np.argpartition(-block, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(block, top, axis=1), axis=1, kind="stable")
        out[candidates[start : start + len(block)]] = candidates[np.take_along_axis(top, order, axis=1)]
    return out


def neighbour_precision(
    neighbours: np.ndarray, found: np.ndarray, pathways: list[tuple[str, list[int]]]
) -> tuple[np.ndarray, np.ndarray, float]:
    """Per gene in a pathway: the fraction of its neighbours sharing a pathway (0 without a vector);
    the genes scored; and the chance level among the candidates."""
    n = len(neighbours)
    rows = np.concatenate([genes for _, genes in pathways])
    columns = np.repeat(np.arange(len(pathways)), [len(genes) for _, genes in pathways])
    member = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=(n, len(pathways))
    )
    scored = np.flatnonzero(np.asarray(member.sum(axis=1)).ravel() > 0)
    shares = (member[scored] @ member.T).tocsr()
    shares.data[:] = 1
    precision = np.zeros(len(scored))
    has = found[scored]
    hits = neighbours[scored[has]]
    local = np.flatnonzero(has)
    for column in hits.T:
        precision[has] += np.asarray(shares[local, column]).ravel()
    precision /= neighbours.shape[1]
    partners = np.asarray(shares[:, np.flatnonzero(found)].sum(axis=1)).ravel() - found[scored]
    chance = float(np.mean(partners[has] / max(found.sum() - 1, 1)))
    return precision, scored, chance


def pair_features(vectors: np.ndarray, pairs: np.ndarray, kind: str) -> np.ndarray:
    a, b = vectors[pairs[:, 0]], vectors[pairs[:, 1]]
    if kind == "raw":  # scalar features per gene (degree, text availability): their sum and |difference|
        return _pair_features(a, b, True)
    if kind == "sum":
        return normalize(a) + normalize(b)
    return _pair_features(a, b, False)


# ---------------------------------------------------------------------- the benchmark
MODELS = (DEFAULT_MODEL, "tfidf", "go", "go:512", "combined:tfidf:512+go:512")
VIEWS = ("function", "card", "summary", "full")


def label(model, view: str | None) -> str:
    return str(model) if view is None else f"{model} / {view}"


DEFAULT_LABEL = label(DEFAULT_MODEL, DEFAULT_VIEW)
PREVIOUS_LABEL = label(PREVIOUS_DEFAULT["model"], PREVIOUS_DEFAULT["view"])


def default_candidates(
    models: Sequence = MODELS,
    views: Sequence[str] = VIEWS,
    *,
    extra: Sequence[tuple[str, str]] = ((PREVIOUS_DEFAULT["model"], PREVIOUS_DEFAULT["view"]),),
) -> list[Candidate]:
    """The model × view grid (a model that reads no text gets one row), ``extra`` (model, view)
    pairs (the previous default), and the controls: random, the ``name`` view of each text model
    of the grid, lexical, availability, degree."""
    rows, text_models = [], []
    for model in models:
        if _reads_text(model):
            text_models.append(model)
            rows += [Candidate(label(model, view), "text", model, view) for view in views]
        else:
            rows.append(Candidate(label(model, None), "go", model, "card"))
    rows += [Candidate(label(model, view), "text", model, view) for model, view in extra]
    rows.append(Candidate("random", "random", RandomEmbedder(dim=384), "card"))
    rows += [Candidate(label(m, "name"), "name", m, "name") for m in text_models if "+" not in str(m)]
    rows += [Candidate(LEXICAL, "lexical"), Candidate(AVAILABILITY, "availability")]
    rows.append(Candidate(DEGREE, "degree"))
    return rows


def _reads_text(model) -> bool:
    embedder = get_embedder(model) if isinstance(model, str) else model
    if hasattr(embedder, "members"):
        return any(_reads_text(m) for m in embedder.members)
    return hasattr(embedder, "embed_batch")


def knowledge_benchmark(
    candidates: Sequence[Candidate] | None = None,
    *,
    corpus: GeneCorpus | None = None,
    seed: int = SPLIT_SEED,
    n_bootstrap: int = N_BOOTSTRAP,
    repeats: int = PPI_REPEATS,
    protocols: Sequence[str] = ("genept", HEADLINE_PROTOCOL),
) -> dict:
    """Score every candidate on both tasks and both halves.

    Returns ``{"rows": [...], "comparisons": [...], "params": {...}}``: one row per task ×
    protocol × half × candidate (``mean, sd, ci_low, ci_high, n`` and, for Reactome, ``coverage``
    and ``chance``), and paired differences of each embedding against the controls.
    """
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise InputError(f"Unknown interaction protocol(s) {unknown}; choose from {', '.join(PROTOCOLS)}.")
    corpus = corpus or GeneCorpus.load()
    candidates = list(candidates or default_candidates())
    data = load_data(corpus, seed=seed, repeats=repeats)
    vectors = _Vectors(corpus)
    rows, draws = [], {}
    boot_rng = np.random.default_rng(seed)
    boots = {}
    for candidate in progress(candidates, desc="knowledge benchmark", unit="embedding"):
        if candidate.kind != "degree":
            matrix, found = vectors(candidate, data.universe)
            metric = "euclidean" if candidate.kind == "availability" else "cosine"
            neighbours = nearest(matrix, found, metric=metric)
            for half in HALVES:
                precision, scored, chance = neighbour_precision(neighbours, found, data.pathways[half])
                if half not in boots:
                    boots[half] = boot_rng.integers(0, len(scored), (n_bootstrap, len(scored)))
                means = precision[boots[half]].mean(axis=1)
                draws["reactome", "", half, candidate.label] = means
                rows.append(
                    _row(candidate, "reactome", "", half, float(precision.mean()), means, len(scored))
                    | {"coverage": float(found[scored].mean()), "chance": chance}
                )
        ppi_matrix, _ = (
            (np.log1p(data.degree)[:, None], None)
            if candidate.kind == "degree"
            else vectors(candidate, data.ppi_genes)
        )
        raw = candidate.kind in ("degree", "availability")
        for protocol in protocols:
            for half in HALVES:
                scores = []
                for repeat in range(repeats):
                    train, y_train, test, y_test = data.ppi_splits[protocol, half, repeat]
                    kind = "raw" if raw else PROTOCOLS[protocol].features
                    x_train, x_test = (pair_features(ppi_matrix, p, kind) for p in (train, test))
                    with _one_blas_thread():
                        model = _logistic(repeat).fit(x_train, y_train)
                    scores.append(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))
                draws["ppi", protocol, half, candidate.label] = np.array(scores)
                rows.append(
                    _row(
                        candidate,
                        "ppi",
                        protocol,
                        half,
                        float(np.mean(scores)),
                        np.array(scores),
                        len(y_test),
                    )
                )
        logger.info("%s done", candidate.label)
    results = {
        "rows": rows,
        "comparisons": _comparisons(candidates, draws),
        "default": DEFAULT_LABEL,
        "previous_default": PREVIOUS_LABEL,
        "params": {
            "k": K,
            "pathway_size": list(PATHWAY_SIZE),
            "split_seed": seed,
            "n_bootstrap": n_bootstrap,
            "ppi_repeats": repeats,
            "n_universe": len(data.universe),
            "n_pathways": {h: len(p) for h, p in data.pathways.items()},
            "n_ppi_genes": len(data.ppi_genes),
            "protocols": {name: PROTOCOLS[name].label for name in protocols},
        },
    }
    results["chosen"] = choose_default(results) if any(c.kind in ("text", "go") for c in candidates) else None
    return results


def _row(candidate: Candidate, task: str, protocol: str, half: str, mean: float, draws, n: int) -> dict:
    """A result row; for Reactome the spread is the bootstrap's (sd and percentile interval), for
    interactions the repeats' (sd and t interval)."""
    if task == "reactome":
        spread = {"sd": float(draws.std(ddof=1)), "ci_low": float(np.percentile(draws, 2.5))}
        spread["ci_high"] = float(np.percentile(draws, 97.5))
    else:
        spread = {k: v for k, v in summarize(draws).items() if k != "n"}
    return {
        "task": task,
        "protocol": protocol,
        "half": half,
        "embedding": candidate.label,
        "kind": candidate.kind,
        "view": candidate.view if candidate.kind in ("text", "name") else "",
        "mean": mean,
        **spread,
        "n": n,
    }


CONTROLS = ("random", "name", "lexical", "availability", "degree")


def _comparisons(candidates: Sequence[Candidate], draws: dict) -> list[dict]:
    """Each non-control row minus each control, paired over the same bootstrap draws or splits."""
    out = []
    controls = [c for c in candidates if c.kind in CONTROLS]
    for (task, protocol, half, label), values in draws.items():
        mine = next(c for c in candidates if c.label == label)
        if mine.kind in CONTROLS:
            continue
        for control in controls:
            other = draws.get((task, protocol, half, control.label))
            if other is None:
                continue
            difference = values - other
            out.append(
                {
                    "task": task,
                    "protocol": protocol,
                    "half": half,
                    "embedding": label,
                    "control": control.label,
                    "difference": float(difference.mean()),
                    "sd": float(difference.std(ddof=1)),
                }
            )
    return out


# ---------------------------------------------------------------------- choosing and reporting
def frame(results: dict) -> pd.DataFrame:
    return pd.DataFrame(results["rows"])


ELIGIBLE_VIEWS = ("function",)  # function_all (every GO term) is a candidate for the next run
CHOICE_RULE = (
    "best mean rank over the validation half's Reactome P@10 and Lit-BM-17 ROC-AUC (degree-matched "
    "negatives, gene-disjoint split, pair features), ties broken by Reactome; eligible: the views "
    "that keep gene names out of the text (function) and the text-free GO vectors"
)


def choose_default(results: dict, *, half: str = "validation") -> str:
    """The eligible embedding chosen by :data:`CHOICE_RULE` on the validation half."""
    rows = frame(results)
    rows = rows[
        (rows["half"] == half)
        & ((rows["kind"] == "go") | ((rows["kind"] == "text") & rows["view"].isin(ELIGIBLE_VIEWS)))
    ]
    reactome = rows[rows["task"] == "reactome"].set_index("embedding")["mean"]
    ppi = rows[(rows["task"] == "ppi") & (rows["protocol"] == HEADLINE_PROTOCOL)].set_index("embedding")[
        "mean"
    ]
    ranks = pd.DataFrame({"reactome": reactome.rank(ascending=False), "ppi": ppi.rank(ascending=False)})
    ranks["mean"] = ranks.mean(axis=1)
    ranks["reactome_value"] = reactome
    return str(ranks.sort_values(["mean", "reactome_value"], ascending=[True, False]).index[0])


def table(results: dict, *, half: str) -> str:
    """Markdown: one row per embedding, Reactome precision (coverage, chance) and each protocol's AUC."""
    rows = frame(results)
    rows = rows[rows["half"] == half]
    protocols = list(dict.fromkeys(rows.loc[rows["task"] == "ppi", "protocol"]))
    header = ["embedding", "kind", f"Reactome P@{K}", "coverage", "chance", *(f"PPI {p}" for p in protocols)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, group in rows.groupby("embedding", sort=False):
        by = {(r.task, r.protocol): r._asdict() for r in group.itertuples()}
        reactome = by.get(("reactome", ""))
        cells = [label, group["kind"].iloc[0]]
        cells += (
            [format_summary(reactome), f"{reactome['coverage']:.1%}", f"{reactome['chance']:.3f}"]
            if reactome
            else ["-", "-", "-"]
        )
        cells += [format_summary(by[("ppi", p)]) if ("ppi", p) in by else "-" for p in protocols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def goal_lines(
    results: dict, *, default: str = DEFAULT_LABEL, old_default: str = PREVIOUS_LABEL, half: str = "report"
) -> list[str]:
    """Where the default stands on the report half: against today's default, the lexical control
    (paired bootstrap sd of the difference), and the interaction baselines."""
    rows = frame(results)
    rows = rows[rows["half"] == half]
    comparisons = pd.DataFrame(results["comparisons"])

    def value(task, protocol, label):
        hit = rows[(rows["task"] == task) & (rows["protocol"] == protocol) & (rows["embedding"] == label)]
        return hit.iloc[0] if len(hit) else None

    lines = []
    ours, old = value("reactome", "", default), value("reactome", "", old_default)
    if ours is not None and old is not None:
        ratio = ours["mean"] / old["mean"]
        lines.append(
            f"- Reactome P@{K} ({half} half): default {default} {format_summary(ours)} vs the old default "
            f"{old_default} {format_summary(old)}: {ratio:.2f}× "
            f"({'meets' if ratio >= 1.5 else 'misses'} ≥ 1.5×)."
        )
        lexical = comparisons[
            (comparisons["task"] == "reactome")
            & (comparisons["half"] == half)
            & (comparisons["embedding"] == default)
            & (comparisons["control"].str.startswith("lexical"))
        ]
        if len(lexical):
            gap = lexical.iloc[0]
            verdict = "more" if gap["difference"] > 2 * gap["sd"] else "not more"
            lines.append(
                f"- Above the lexical control by {gap['difference']:.3f} "
                f"(paired bootstrap sd {gap['sd']:.3f}): {verdict} than 2 sd."
            )
    for protocol in dict.fromkeys(rows.loc[rows["task"] == "ppi", "protocol"]):
        mine = value("ppi", protocol, default)
        if mine is None:
            continue
        others = {
            label: value("ppi", protocol, label)
            for label in (DEGREE, "random", LEXICAL, AVAILABILITY, old_default)
        }
        listed = "; ".join(f"{label} {format_summary(o)}" for label, o in others.items() if o is not None)
        target = " (goal ≥ 0.80: " + ("met" if mine["mean"] >= 0.80 else "missed") + ")"
        lines.append(
            f"- Lit-BM-17, {PROTOCOLS[protocol].label}: default {format_summary(mine)}"
            + (target if protocol == HEADLINE_PROTOCOL else "")
            + f"; {listed}."
        )
    return lines


def choice_line(results: dict) -> str:
    chosen, default = results.get("chosen"), results["default"]
    agreement = "the shipped default" if chosen == default else f"the shipped default is {default}"
    return f"Chosen on the validation half: **{chosen}** ({agreement}). Rule: {CHOICE_RULE}."


def knowledge_markdown(results: dict) -> str:
    """The report section: what is measured, where the default stands, both halves' tables."""
    params = results["params"]
    protocols = "; ".join(f"`{name}`: {text}" for name, text in params["protocols"].items())
    out = [
        "## Gene knowledge: Reactome neighbours and Lit-BM-17 interactions\n",
        f"Reactome P@{params['k']}: for each protein-coding gene in a pathway of "
        f"{params['pathway_size'][0]}–{params['pathway_size'][1]} genes, the fraction of its {params['k']} "
        f"nearest neighbours among all {params['n_universe']:,} protein-coding genes that share a pathway "
        f"with it (a gene without a vector scores 0); ± the sd of {params['n_bootstrap']} bootstrap draws "
        "of genes; `coverage`: genes with a vector; `chance`: random neighbours. Lit-BM-17 "
        f"({params['n_ppi_genes']:,} genes): logistic regression, ROC-AUC ± sd over "
        f"{params['ppi_repeats']} seeded splits; {protocols}. Pathways and interactome genes are split "
        f"once (seed {params['split_seed']}) into a validation half, on which every choice was made, and a "
        "report half, which gives the numbers to quote.\n",
        choice_line(results) + "\n",
        "### Where the default stands (report half)\n",
        *goal_lines(results),
        "",
        "### Report half\n",
        table(results, half="report"),
        "![knowledge](figures/knowledge_report.png)\n",
        "### Validation half (where the default was chosen)\n",
        table(results, half="validation"),
    ]
    return "\n".join(out) + "\n"


def console_lines(results: dict) -> list[str]:
    """What ``textcell bench knowledge`` prints: the choice of the default and the goal lines."""
    return [choice_line(results), *goal_lines(results)]


def readme_lines(results: dict) -> list[str]:
    return [choice_line(results), "", table(results, half="report").rstrip("\n"), "", *goal_lines(results)]


def knowledge_figure(results: dict):
    """Report half: Reactome P@k and the headline interaction AUC per embedding, mean ± sd."""
    from ..pl import metric_bars

    rows = frame(results)
    rows = rows[rows["half"] == "report"]
    reactome = rows[rows["task"] == "reactome"].assign(dataset=f"Reactome P@{K}")
    ppi = rows[(rows["task"] == "ppi") & (rows["protocol"] == HEADLINE_PROTOCOL)]
    ppi = ppi.assign(dataset="Lit-BM-17 ROC-AUC (matched, pair)")
    return metric_bars(pd.concat([reactome, ppi]), metric="score", title="Gene knowledge, report half")
