"""GO-term enrichment of gene sets: one-sided hypergeometric test, Benjamini–Hochberg per set.

The background (``universe``) is the genes the sets were drawn from, never the whole genome: a
program of highly variable genes is compared with the other highly variable genes. Terms are the
GO terms the corpus annotates directly to genes (the terms of :meth:`GeneCorpus.record`); a term
is tested when it annotates between ``min_term_size`` and ``max_term_size`` genes of the universe.
Within each gene set every eligible term counts as one test (those with no overlap get p = 1), so
the correction covers every term the set could have hit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from .corpus import GeneCorpus

ASPECTS = ("BP", "MF", "CC")
COLUMNS = (
    "set", "term", "aspect", "overlap", "set_size", "term_size", "universe", "p", "q", "genes",
)  # fmt: skip


def go_annotations(
    corpus: GeneCorpus, entrez: Iterable[str], *, aspects: Sequence[str] = ASPECTS
) -> dict[tuple[str, str], set[str]]:
    """``{(aspect, term name): {entrez, ...}}`` for the given genes."""
    unknown = set(aspects) - set(ASPECTS)
    if unknown:
        raise InputError(f"Unknown GO aspects {sorted(unknown)}; use {', '.join(ASPECTS)}.")
    terms: dict[tuple[str, str], set[str]] = {}
    for gene in entrez:
        if gene not in corpus:
            continue
        record = corpus.record(gene)
        for aspect, names in (("BP", record.go_bp), ("MF", record.go_mf), ("CC", record.go_cc)):
            if aspect in aspects:
                for name in names:
                    terms.setdefault((aspect, name), set()).add(gene)
    return terms


def enrichment(
    gene_sets: Mapping[str, Iterable[str]],
    *,
    universe: Iterable[str],
    annotations: Mapping[tuple[str, str], set[str]],
    symbols: Mapping[str, str] | None = None,
    min_term_size: int = 3,
    max_term_size: int = 500,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Significant terms of every gene set (q < ``alpha``), most significant first.

    Parameters
    ----------
    gene_sets
        Set name → genes (Entrez IDs); genes outside ``universe`` are ignored.
    universe
        The background genes.
    annotations
        Term → genes, from :func:`go_annotations`.
    symbols
        Entrez → symbol, for the ``genes`` column (the overlapping genes).
    min_term_size, max_term_size
        Terms annotating fewer or more universe genes are not tested.
    alpha
        Benjamini–Hochberg false discovery rate, within each set.

    Returns a frame with :data:`COLUMNS`; ``overlap`` genes of the set carry the term,
    ``set_size``/``term_size`` are counted within the universe.
    """
    universe = set(universe)
    n_universe = len(universe)
    if n_universe == 0:
        raise InputError("The enrichment universe is empty.")
    terms = []
    for term, genes in annotations.items():
        members = genes & universe
        if min_term_size <= len(members) <= max_term_size:
            terms.append((term, members))
    symbols = symbols or {}
    rows = []
    for name, genes in gene_sets.items():
        members = set(genes) & universe
        if not members or not terms:
            continue
        overlaps = [members & term_genes for _, term_genes in terms]
        k = np.array([len(o) for o in overlaps])
        big_k = np.array([len(t) for _, t in terms])
        p = stats.hypergeom.sf(k - 1, n_universe, big_k, len(members))
        p = np.where(k > 0, np.clip(p, 0.0, 1.0), 1.0)
        q = stats.false_discovery_control(p, method="bh")
        for i in np.flatnonzero(q < alpha):
            (aspect, term), _ = terms[i]
            rows.append(
                {
                    "set": str(name),
                    "term": term,
                    "aspect": aspect,
                    "overlap": int(k[i]),
                    "set_size": len(members),
                    "term_size": int(big_k[i]),
                    "universe": n_universe,
                    "p": float(p[i]),
                    "q": float(q[i]),
                    "genes": ",".join(sorted(symbols.get(g, g) for g in overlaps[i])),
                }
            )
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.sort_values(["set", "q", "p"], kind="stable").reset_index(drop=True)


def n_enriched(table: pd.DataFrame) -> int:
    """Number of gene sets with at least one significant term."""
    return int(table["set"].nunique())
