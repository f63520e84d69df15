"""Gene vectors from the Gene Ontology alone, no text: the knowledge baseline.

Each gene is its row of the gene × GO-term incidence matrix of the corpus, every term weighted
by its information content (``log(n_genes / genes carrying the term or a descendant)``), rows
L2-normalised, then reduced by truncated SVD. This is the structure GEARS predicts from, which
Scouter replaced with text embeddings. Genes without GO terms get no vector.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from .._io import atomic_write
from .._settings import settings
from ..genes.corpus import GeneCorpus
from .base import make_fingerprint

logger = logging.getLogger("textcell")


def go_incidence(corpus: GeneCorpus) -> tuple[list[str], sparse.csr_matrix]:
    """The Entrez IDs of the genes with GO terms and their IDF-weighted, L2-normalised term rows."""
    from sklearn.preprocessing import normalize

    columns = corpus.columns
    annotated = [(e, terms) for e, terms in zip(columns["entrez"], columns["go"], strict=True) if terms]
    n_terms = len(corpus.go_terms["id"])
    indptr = np.cumsum([0, *(len(terms) for _, terms in annotated)])
    indices = np.concatenate([np.asarray(terms, dtype=np.int64) for _, terms in annotated])
    carrying = np.maximum(np.asarray(corpus.go_terms["n_genes"], dtype=np.float64), 1.0)
    idf = np.log(len(annotated) / carrying).clip(min=0.0) + 1e-3
    matrix = sparse.csr_matrix(
        (idf[indices].astype(np.float32), indices, indptr), shape=(len(annotated), n_terms)
    )
    return [e for e, _ in annotated], normalize(matrix)


class GoEmbedder:
    """Gene-keyed embedder: truncated SVD of the corpus's GO incidence matrix.

    Parameters
    ----------
    corpus
        The corpus whose GO annotations define the vectors (the bundled human corpus by default).
    dim
        Number of SVD components.
    seed
        Seed of the randomized SVD.
    """

    name = "go"

    def __init__(self, *, corpus: GeneCorpus | None = None, dim: int = 256, seed: int = 0):
        self.corpus = corpus or GeneCorpus.load()
        self.dim = dim
        self.seed = seed
        self.model_id = f"go-svd-{dim}"
        self._rows: dict[str, int] | None = None
        self._matrix: np.ndarray | None = None

    def fingerprint(self) -> str:
        # The GO annotations are part of the corpus itself, never of its attached summaries.
        return make_fingerprint(backend="go", corpus=self.corpus.checksum[:12], dim=self.dim, seed=self.seed)

    def _fitted(self) -> tuple[dict[str, int], np.ndarray]:
        if self._matrix is None:
            path = settings.cache_dir / "models" / f"go-{self.fingerprint()}.npz"
            if not path.is_file():
                self._fit(path)
            with np.load(path) as saved:
                entrez, self._matrix = saved["entrez"].tolist(), saved["vectors"]
            self._rows = {e: i for i, e in enumerate(entrez)}
        return self._rows, self._matrix

    def _fit(self, path) -> None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.preprocessing import normalize

        entrez, incidence = go_incidence(self.corpus)
        logger.info("Fitting GO vectors (%d components) on %d genes.", self.dim, len(entrez))
        svd = TruncatedSVD(n_components=self.dim, algorithm="randomized", n_iter=7, random_state=self.seed)
        vectors = normalize(svd.fit_transform(incidence)).astype(np.float32)
        with atomic_write(path) as handle:
            np.savez(handle, entrez=np.array(entrez), vectors=vectors)

    def embed_genes(self, entrez_ids: Sequence[str], **_context) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of the given genes and a mask of those with GO terms."""
        rows, matrix = self._fitted()
        found = np.array([e in rows for e in entrez_ids], dtype=bool)
        out = np.zeros((len(entrez_ids), self.dim), dtype=np.float32)
        out[found] = matrix[[rows[e] for e, ok in zip(entrez_ids, found, strict=True) if ok]]
        return out, found

    def __repr__(self) -> str:
        return f"GoEmbedder(dim={self.dim})"
