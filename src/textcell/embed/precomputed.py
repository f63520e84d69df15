"""Import gene → vector tables: GenePT's published embeddings and any user table.

Formats: JSON (``{gene: [floats]}``), CSV/TSV (gene in the first column, one column per
dimension), NPZ (arrays ``genes`` and ``vectors``), parquet (a ``gene`` column and either a
list column ``vector`` or one column per dimension), and — only with ``trusted=True`` — the
pickled dict that GenePT distributes (unpickling runs code from the file). Gene keys may be
symbols, synonyms, Ensembl or Entrez IDs: they resolve through the GeneResolver.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..genes.corpus import GeneCorpus
from ..genes.ids import CoverageReport, GeneResolver
from .base import make_fingerprint


def read_table(path: Path, *, trusted: bool = False) -> tuple[list[str], np.ndarray]:
    """Gene keys and the float32 matrix of a table file."""
    if not path.is_file():
        raise InputError(f"Embedding table {path} does not exist.")
    suffix = path.name.lower().removesuffix(".gz").rsplit(".", 1)[-1]
    try:
        if suffix == "json":
            data = json.loads(path.read_text())
            genes, rows = list(data), list(data.values())
        elif suffix in ("csv", "tsv", "txt"):
            frame = pd.read_csv(path, sep="," if suffix == "csv" else "\t", index_col=0)
            genes, rows = frame.index.astype(str).tolist(), frame.to_numpy()
        elif suffix == "npz":
            with np.load(path, allow_pickle=False) as saved:
                genes, rows = saved["genes"].astype(str).tolist(), saved["vectors"]
        elif suffix == "parquet":
            frame = pd.read_parquet(path)
            key = "gene" if "gene" in frame.columns else frame.columns[0]
            genes = frame[key].astype(str).tolist()
            rows = np.stack(frame["vector"]) if "vector" in frame else frame.drop(columns=key).to_numpy()
        elif suffix in ("pickle", "pkl"):
            if not trusted:
                raise InputError(
                    f"{path.name} is a pickle, and loading a pickle runs code from the file. If you trust "
                    "its source (e.g. GenePT's published file), pass trusted=True (CLI: --trust-pickle)."
                )
            import pickle

            with path.open("rb") as handle:
                data = pickle.load(handle)  # noqa: S301  (the user declared the file trusted)
            genes, rows = list(data), list(data.values())
        else:
            raise InputError(
                f"Unknown embedding table format {path.suffix!r}; use JSON, CSV, TSV, NPZ, "
                "parquet, or a trusted pickle."
            )
        matrix = np.asarray(rows, dtype=np.float32)
    except (ValueError, KeyError, OSError, json.JSONDecodeError) as exc:
        raise InputError(f"Could not read the embedding table {path}: {exc}") from exc
    if matrix.ndim != 2 or len(genes) != len(matrix) or not len(genes):
        raise InputError(f"{path} does not hold one vector per gene (got shape {matrix.shape}).")
    if not np.isfinite(matrix).all():
        raise InputError(f"{path} holds NaN or infinite values.")
    return genes, matrix


class PrecomputedEmbeddings:
    """A gene-keyed table of vectors, resolved onto the corpus.

    Parameters
    ----------
    path
        Table file (see the module docstring for formats).
    trusted
        Allow a pickle file.
    corpus
        Corpus to resolve gene keys against.
    """

    name = "precomputed"

    def __init__(self, path: str | os.PathLike, *, trusted: bool = False, corpus: GeneCorpus | None = None):
        self.path = Path(path)
        genes, matrix = read_table(self.path, trusted=trusted)
        self.dim = matrix.shape[1]
        self.model_id = f"precomputed:{self.path.name}"
        self._digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        resolution = GeneResolver(corpus).resolve(list(dict.fromkeys(genes)), species="human")
        self.coverage: CoverageReport = resolution.report
        row = {g: i for i, g in enumerate(genes)}
        self._rows: dict[str, int] = {}
        for gene, entrez in resolution.matched.items():
            self._rows.setdefault(entrez, row[gene])
        self._matrix = matrix

    def fingerprint(self) -> str:
        return make_fingerprint(backend="precomputed", sha256=self._digest)

    def embed_genes(self, entrez_ids, **_context) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of the given genes and a mask of those the table holds."""
        found = np.array([e in self._rows for e in entrez_ids], dtype=bool)
        out = np.zeros((len(entrez_ids), self.dim), dtype=np.float32)
        rows = [self._rows[e] for e, ok in zip(entrez_ids, found, strict=True) if ok]
        out[found] = self._matrix[rows]
        return out, found
