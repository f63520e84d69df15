"""Candidate labels per group, each source a plain function returning a tidy table
``group, cell_type, source, score`` (best first within a group and source)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..ontology import CellOntology, CellTypes

COLUMNS = ["group", "cell_type", "source", "score"]


def in_vocabulary(name: str, vocabulary: CellTypes) -> str:
    """A proposed name as the vocabulary's type, or unchanged when the vocabulary lacks it."""
    return vocabulary.canonical_name(name) or name


def best_per_group(frame: pd.DataFrame, top: int) -> pd.DataFrame:
    """Per group: map names already done; keep each name's best score, the ``top`` best names."""
    frame = frame[frame["score"] > 0].sort_values("score", ascending=False)
    frame = frame.drop_duplicates(["group", "cell_type"])
    return frame.groupby("group", sort=False, observed=True).head(top)[COLUMNS].reset_index(drop=True)


def from_markers(
    support: pd.DataFrame, markers: pd.DataFrame, vocabulary: CellTypes, *, top: int = 5
) -> pd.DataFrame:
    """Marker-database scoring: the summed weight of each type's markers the group expresses,
    each weight divided by the square root of the number of types sharing the marker."""
    positive = markers[(markers["sign"] > 0) & markers["gene"].isin(support.columns)]
    sharing = positive.groupby("gene")["cell_type"].nunique()
    weights = positive["weight"].to_numpy() / np.sqrt(sharing.reindex(positive["gene"]).to_numpy())
    design = pd.crosstab(positive["gene"], positive["cell_type"], values=weights, aggfunc="sum").fillna(0.0)
    scores = support[design.index].astype(float) @ design
    frame = scores.stack().rename("score").reset_index()
    frame.columns = ["group", "cell_type", "score"]
    frame["cell_type"] = [in_vocabulary(n, vocabulary) for n in frame["cell_type"]]
    return best_per_group(frame.assign(source="markers"), top)


def from_vocabulary(support: pd.DataFrame, vocabulary: CellTypes, *, top: int = 5) -> pd.DataFrame:
    """:func:`from_markers` with the vocabulary's own canonical markers: textcell's types are
    always proposed, whichever marker database proposes the others."""
    rows = [
        (name, gene, 1, 1.0) for name, t in vocabulary.types.items() for gene in t.positive if gene in support
    ]
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    table = pd.DataFrame(rows, columns=["cell_type", "gene", "sign", "weight"])
    return from_markers(support, table, vocabulary, top=top)


def descriptions(
    vocabulary: CellTypes, markers: pd.DataFrame, *, style: str = "definition"
) -> dict[str, str]:
    """Each candidate cell type as text: the vocabulary's types, then the marker table's others.

    ``style="definition"``: the type's Cell Ontology term — label, definition and synonyms (a type
    without a CL term falls back to its markers); ``"markers"``: its name with its canonical
    markers (the vocabulary's, else the table's ten heaviest).
    """
    ontology = CellOntology.bundled()
    positive = markers[markers["sign"] > 0].sort_values("weight", ascending=False)
    genes = {name: list(t.positive) for name, t in vocabulary.types.items()}
    terms = {name: t.cell_ontology for name, t in vocabulary.types.items()}
    for name, rows in positive.groupby("cell_type", sort=True):
        mapped = in_vocabulary(name, vocabulary)
        genes.setdefault(mapped, list(rows["gene"].head(10)))
        if "cell_ontology" in rows:
            terms.setdefault(mapped, rows["cell_ontology"].iloc[0])
    texts = {}
    for name, marker_genes in genes.items():
        term = terms.get(name, "")
        if style == "definition" and term in ontology:
            texts[name] = ontology.term(term).text()
        else:
            texts[name] = _describe(name, marker_genes)
    return texts


def _describe(name: str, genes) -> str:
    return f"{name}: cells expressing {', '.join(genes)}."


def text_scores(
    group_genes: dict[str, np.ndarray], gene_vectors: np.ndarray, type_vectors: np.ndarray, names
) -> pd.DataFrame:
    """Zero-shot: cosine similarity between each group's marker genes (the mean of their text
    embeddings) and each embedded cell-type description, every group × type: ``group, cell_type,
    source, score``. Both sets are centred on their own mean first, which removes the direction
    every text shares."""
    genes = _unit(gene_vectors - gene_vectors.mean(axis=0))
    types = _unit(type_vectors - type_vectors.mean(axis=0))
    rows = []
    for group, positions in group_genes.items():
        if len(positions):
            similarity = types @ _unit(genes[positions].mean(axis=0))
            rows += [(group, name, "text", float(s)) for name, s in zip(names, similarity, strict=True)]
    return pd.DataFrame(rows, columns=COLUMNS)


def from_text(
    group_genes: dict[str, np.ndarray],
    gene_vectors: np.ndarray,
    type_vectors: np.ndarray,
    names,
    *,
    top: int = 3,
) -> pd.DataFrame:
    """The ``top`` text candidates per group (see :func:`text_scores`): a proposer, never a judge."""
    return best_per_group(text_scores(group_genes, gene_vectors, type_vectors, names), top)


def from_reference(
    query: np.ndarray,
    groups: pd.Categorical,
    reference: np.ndarray,
    labels,
    vocabulary: CellTypes,
    *,
    n_neighbors: int = 15,
    top: int = 2,
) -> pd.DataFrame:
    """Each group's share of cells whose nearest labelled reference cells (cosine kNN on the same
    cell embedding) carry each label."""
    from sklearn.neighbors import KNeighborsClassifier

    labels = np.asarray([in_vocabulary(str(label), vocabulary) for label in labels])
    knn = KNeighborsClassifier(n_neighbors=min(n_neighbors, len(labels)), metric="cosine")
    probabilities = knn.fit(reference, labels).predict_proba(query)
    shares = (
        pd.DataFrame(probabilities, columns=knn.classes_).groupby(np.asarray(groups), observed=True).mean()
    )
    frame = shares.stack().rename("score").reset_index()
    frame.columns = ["group", "cell_type", "score"]
    return best_per_group(frame.assign(source="reference"), top)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)
