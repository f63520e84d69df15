"""GeneEmbeddings: a float32 matrix with its gene index and provenance; how genes get vectors."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from .._defaults import DEFAULT_MODEL, DEFAULT_VIEW
from .._io import atomic_write
from ..errors import InputError, TextcellWarning
from ..genes.corpus import GeneCorpus
from ..genes.ids import GeneResolver, default_resolver
from ..genes.views import get_view
from .base import get_embedder, make_fingerprint, missing_runtime
from .texts import cached_texts, embed_texts


def gene_vectors(
    model, entrez_ids: Sequence[str], *, corpus: GeneCorpus, view: str = "card", cache: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of corpus genes under ``model`` and a mask of the genes that got one.

    Text embedders embed each gene's text in ``view`` (a gene the view gives no text gets no
    vector); gene-keyed sources (tables, combined embedders) look genes up.
    """
    if hasattr(model, "embed_genes"):
        return model.embed_genes(list(entrez_ids), corpus=corpus, view=view, cache=cache)
    texts = corpus.render(entrez_ids, view=view)
    has_text = np.array([bool(text) for text in texts], dtype=bool)
    texts = [text for text in texts if text]
    vectors = np.zeros((len(has_text), model.dim), dtype=np.float32)
    reason = missing_runtime(model)
    if reason is None:
        vectors[has_text] = embed_texts(model, texts, cache=cache)
        return vectors, has_text
    served, found = cached_texts(model, texts, cache=cache)
    if not found.all():
        warnings.warn(
            f"{(~found).sum():,} of {len(texts):,} genes with text have no shipped or cached vector for "
            f"{model.model_id} and are left without one: {reason}.",
            TextcellWarning,
            stacklevel=2,
        )
    vectors[has_text] = served
    has_text[has_text] = found
    return vectors, has_text


@dataclass
class GeneEmbeddings:
    """Gene vectors keyed by Entrez ID, with symbols for display and provenance."""

    matrix: np.ndarray
    entrez: list[str]
    symbols: list[str]
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        self.matrix = np.ascontiguousarray(self.matrix, dtype=np.float32)
        if not (len(self.matrix) == len(self.entrez) == len(self.symbols)):
            raise InputError("matrix, entrez and symbols must have the same length.")
        self._row = {e: i for i, e in enumerate(self.entrez)}
        self._symbol_row = {s: i for i, s in reversed(list(enumerate(self.symbols)))}

    @classmethod
    def build(
        cls,
        genes: Sequence[str],
        *,
        model=DEFAULT_MODEL,
        view: str = DEFAULT_VIEW,
        corpus: GeneCorpus | None = None,
        cache: bool = True,
        species: str = "auto",
    ) -> GeneEmbeddings:
        """Embed ``genes`` (any identifiers the GeneResolver takes) with ``model`` on ``view``
        (by default textcell's, :mod:`textcell.embed.defaults`).

        Genes that do not resolve, that a table lacks or that the view gives no text are left out
        and listed in ``provenance['missing']``.
        """
        corpus = corpus or GeneCorpus.load()
        resolution = GeneResolver(corpus).resolve(list(dict.fromkeys(genes)), species=species)
        entrez = list(dict.fromkeys(resolution.matched))
        embedder = get_embedder(model, corpus=corpus, view=view)
        matrix, found = gene_vectors(embedder, entrez, corpus=corpus, view=view, cache=cache)
        kept = [e for e, ok in zip(entrez, found, strict=True) if ok]
        if not kept:
            unknown = resolution.report.unmatched + list(resolution.report.ambiguous)
            raise InputError(
                f"None of the {len(set(genes)):,} genes has an embedding"
                + (
                    f" ({len(unknown):,} are not known genes, e.g. {', '.join(unknown[:5])})"
                    if unknown
                    else ""
                )
                + "; check the identifiers and species=."
            )
        symbols = [corpus.record(e).symbol for e in kept]
        table_missing = [corpus.record(e).symbol for e, ok in zip(entrez, found, strict=True) if not ok]
        provenance = provenance_of(embedder, corpus=corpus, view=view)
        provenance["missing"] = (
            resolution.report.unmatched + list(resolution.report.ambiguous) + table_missing
        )
        return cls(matrix[found], kept, symbols, provenance)

    @property
    def dim(self) -> int:
        return self.matrix.shape[1]

    # A GeneEmbeddings is itself a gene-keyed source: tl.embed_genes(adata, model=embeddings)
    # copies it into varm, and CombinedEmbedder accepts it as a member.
    name = "gene_embeddings"

    @property
    def model_id(self) -> str:
        return str(self.provenance.get("model", "gene_embeddings"))

    def fingerprint(self) -> str:
        return make_fingerprint(
            backend="gene_embeddings",
            model=self.model_id,
            content=hashlib.sha256(self.matrix.tobytes() + "\0".join(self.entrez).encode()).hexdigest(),
        )

    def embed_genes(self, entrez_ids: Sequence[str], **_context) -> tuple[np.ndarray, np.ndarray]:
        return self.aligned(entrez_ids)

    def __len__(self) -> int:
        return len(self.entrez)

    def __contains__(self, entrez: object) -> bool:
        return entrez in self._row

    def row(self, gene: str, resolver: GeneResolver | None = None) -> int:
        """Row of ``gene`` (Entrez ID, symbol, synonym, Ensembl ID...)."""
        if gene in self._row:
            return self._row[gene]
        if gene in self._symbol_row:
            return self._symbol_row[gene]
        resolution = (resolver or default_resolver()).resolve([gene], species="human")
        entrez = resolution.matched.get(gene)
        if entrez is None or entrez not in self._row:
            raise InputError(
                f"No embedding for gene {gene!r}"
                + ("" if entrez is None else f" ({resolution.table.loc[gene, 'symbol']})")
                + "."
            )
        return self._row[entrez]

    def vector(self, gene: str, resolver: GeneResolver | None = None) -> np.ndarray:
        return self.matrix[self.row(gene, resolver)]

    def normalized(self) -> np.ndarray:
        norms = np.linalg.norm(self.matrix, axis=1, keepdims=True)
        return np.divide(self.matrix, norms, out=np.zeros_like(self.matrix), where=norms > 0)

    def cosine(self, a: str, b: str, resolver: GeneResolver | None = None) -> float:
        unit = self.normalized()
        return float(unit[self.row(a, resolver)] @ unit[self.row(b, resolver)])

    def most_similar(self, gene: str, k: int = 10, resolver: GeneResolver | None = None) -> pd.DataFrame:
        """The ``k`` genes with the highest cosine similarity to ``gene`` (itself excluded)."""
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}.")
        unit = self.normalized()
        query = self.row(gene, resolver)
        scores = unit @ unit[query]
        scores[query] = -np.inf
        top = np.argsort(-scores, kind="stable")[:k]
        return pd.DataFrame(
            {
                "symbol": [self.symbols[i] for i in top],
                "entrez": [self.entrez[i] for i in top],
                "cosine": scores[top],
            }
        )

    def aligned(self, entrez_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """A matrix with one row per given Entrez ID (zeros where absent) and the found mask."""
        found = np.array([e in self._row for e in entrez_ids], dtype=bool)
        out = np.zeros((len(entrez_ids), self.dim), dtype=np.float32)
        out[found] = self.matrix[[self._row[e] for e, ok in zip(entrez_ids, found, strict=True) if ok]]
        return out, found

    def for_genes(
        self, genes: Sequence[str], resolver: GeneResolver | None = None, species: str = "auto"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows for any gene identifiers (resolved first; zeros where absent) and the found mask."""
        resolution = (resolver or default_resolver()).resolve(list(genes), species=species)
        return self.aligned(resolution.table["entrez"].tolist())

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``.npz`` or ``.parquet`` (never pickle); the file appears only when complete."""
        path = Path(path)
        meta = json.dumps(self.provenance, default=str)
        if path.suffix == ".npz":
            with atomic_write(path) as handle:
                np.savez_compressed(
                    handle,
                    matrix=self.matrix,
                    entrez=np.array(self.entrez),
                    symbols=np.array(self.symbols),
                    provenance=np.array(meta),
                )
        elif path.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            vectors = pa.FixedSizeListArray.from_arrays(pa.array(self.matrix.ravel()), self.dim)
            table = pa.table({"entrez": self.entrez, "symbol": self.symbols, "vector": vectors})
            table = table.replace_schema_metadata({"textcell": meta})
            with atomic_write(path) as handle:
                pq.write_table(table, handle)
        else:
            raise InputError(f"Save gene embeddings as .npz or .parquet, not {path.suffix!r}.")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> GeneEmbeddings:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path} does not exist.")
        try:
            if path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as saved:
                    return cls(
                        saved["matrix"],
                        saved["entrez"].tolist(),
                        saved["symbols"].tolist(),
                        json.loads(str(saved["provenance"])),
                    )
            if path.suffix == ".parquet":
                import pyarrow.parquet as pq

                table = pq.read_table(path)
                matrix = np.stack(table.column("vector").to_numpy(zero_copy_only=False))
                meta = json.loads(table.schema.metadata.get(b"textcell", b"{}"))
                return cls(
                    matrix, table.column("entrez").to_pylist(), table.column("symbol").to_pylist(), meta
                )
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{path} is not a textcell gene-embeddings file: {exc}") from exc
        raise InputError(f"Load gene embeddings from .npz or .parquet, not {path.suffix!r}.")


def provenance_of(embedder, *, corpus: GeneCorpus, view: str) -> dict:
    """What produced a set of vectors (never any secret)."""
    return {
        "model": embedder.model_id,
        "backend": embedder.name,
        "fingerprint": embedder.fingerprint(),
        "dim": int(embedder.dim),
        "view": get_view(view).id,
        "corpus_version": corpus.version,
        "textcell_version": version("textcell"),
    }
