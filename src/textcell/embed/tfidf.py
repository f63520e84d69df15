"""Offline TF-IDF + LSA (truncated SVD) embedder, fitted on the corpus texts of one view.

Deterministic (fixed seed) and fast; the fitted vocabulary, idf weights and SVD components are
kept as a plain ``.npz`` in the cache folder (no pickle), keyed by the fingerprint.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from .._io import atomic_write
from .._settings import settings
from ..genes.corpus import GeneCorpus
from ..genes.views import get_view
from .base import Embedder, make_fingerprint

logger = logging.getLogger("textcell")
_TOKENS = r"(?u)\b[A-Za-z][A-Za-z0-9-]+\b"


class TfidfEmbedder(Embedder):
    """TF-IDF over words (sublinear term frequency, English stop words removed), then LSA.

    Parameters
    ----------
    corpus
        The corpus whose texts the model is fitted on: every gene with GO terms or a summary,
        rendered with ``view``.
    view
        Text view to fit on.
    dim
        Number of LSA components.
    min_df
        Ignore words found in fewer genes.
    seed
        Seed of the randomized SVD.
    """

    name = "tfidf"
    batch_size = 4096

    def __init__(
        self,
        *,
        corpus: GeneCorpus | None = None,
        view: str = "card",
        dim: int = 256,
        min_df: int = 3,
        seed: int = 0,
    ):
        self.corpus = corpus or GeneCorpus.load()
        self.view = get_view(view)
        self.dim = dim
        self.min_df = min_df
        self.seed = seed
        self.model_id = f"tfidf-lsa-{dim}"
        self._parts: tuple | None = None

    def fingerprint(self) -> str:
        return make_fingerprint(
            backend="tfidf",
            corpus=self.corpus.version,
            view=self.view.id,
            dim=self.dim,
            min_df=self.min_df,
            seed=self.seed,
            tokens=_TOKENS,
        )

    def _fitted(self):
        if self._parts is None:
            path = settings.cache_dir / "models" / f"tfidf-{self.fingerprint()}.npz"
            if not path.is_file():
                self._fit(path)
            with np.load(path) as saved:
                vocabulary = {w: i for i, w in enumerate(saved["vocabulary"].tolist())}
                self._parts = (vocabulary, saved["idf"], saved["components"])
        return self._parts

    def _fit(self, path) -> None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        cols = self.corpus.columns
        informative = [
            e for e, go in zip(cols["entrez"], cols["go"], strict=True) if go or e in self.corpus.summaries
        ]
        texts = self.corpus.render(informative, view=self.view)
        logger.info(
            "Fitting TF-IDF + LSA (%d components) on %d %s texts.", self.dim, len(texts), self.view.id
        )
        vectorizer = TfidfVectorizer(
            token_pattern=_TOKENS,
            lowercase=True,
            stop_words="english",
            min_df=self.min_df,
            sublinear_tf=True,
            dtype=np.float32,
        )
        matrix = vectorizer.fit_transform(texts)
        svd = TruncatedSVD(n_components=self.dim, algorithm="randomized", n_iter=7, random_state=self.seed)
        svd.fit(matrix)
        vocabulary = np.array(sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get))
        with atomic_write(path) as handle:
            np.savez(
                handle,
                vocabulary=vocabulary,
                idf=vectorizer.idf_.astype(np.float32),
                components=svd.components_.astype(np.float32),
            )

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        vocabulary, idf, components = self._fitted()
        counts = CountVectorizer(
            token_pattern=_TOKENS, lowercase=True, vocabulary=vocabulary, dtype=np.float32
        ).transform(texts)
        counts.data = 1 + np.log(counts.data)
        weighted = normalize(counts @ sparse.diags(idf))
        return normalize(np.asarray(weighted @ components.T, dtype=np.float32))
