"""An scGPT gene vocabulary (``vocab.json``) and the mapping of a dataset's genes onto it.

scGPT matches ``var_names`` to vocabulary tokens by exact string. textcell does that first, then
maps the rest through :class:`~textcell.genes.GeneResolver` (previous symbols, synonyms, Ensembl
and Entrez IDs, mouse orthologs): both sides resolve to NCBI genes, and a gene the vocabulary
holds under another name gets its token. Each gene's route is reported.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import InputError
from ...genes.ids import ROUTES, GeneResolver
from .config import SPECIAL_TOKENS

MATCHES = ("resolver", "exact")
EXACT = "exact"
NOT_IN_VOCAB = "not_in_vocab"  # the gene resolved, but the vocabulary has no token for it
DUPLICATE = "duplicate"  # another column already took the gene's token


@dataclass(frozen=True)
class Vocab:
    """Tokens in index order; ``<pad>``, ``<cls>`` and ``<eoc>`` are appended when missing, as
    scGPT's ``embed_data`` does."""

    tokens: tuple[str, ...]
    n_appended: int = 0

    def __post_init__(self):
        object.__setattr__(self, "index", {t: i for i, t in enumerate(self.tokens)})

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def __getitem__(self, token: str) -> int:
        return self.index[token]

    @property
    def genes(self) -> list[str]:
        """The tokens that are not special tokens."""
        return [t for t in self.tokens if t not in SPECIAL_TOKENS]

    @property
    def sha256(self) -> str:
        return hashlib.sha256("\n".join(self.tokens).encode()).hexdigest()

    @classmethod
    def from_mapping(cls, token_to_index: dict, *, source: str = "vocab") -> Vocab:
        """From scGPT's ``{token: index}`` (indices 0 … n-1, each once)."""
        if not isinstance(token_to_index, dict) or not token_to_index:
            raise InputError(
                f"{source} is not an scGPT vocabulary: expected a non-empty {{gene: index}} object."
            )
        indices = list(token_to_index.values())
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in indices):
            raise InputError(f"{source}: every index must be an integer.")
        if sorted(indices) != list(range(len(indices))):
            raise InputError(
                f"{source}: the indices must be 0 … {len(indices) - 1}, each once (scGPT's GeneVocab "
                "requires consecutive indices)."
            )
        tokens = [t for t, _ in sorted(token_to_index.items(), key=lambda item: item[1])]
        missing = [t for t in SPECIAL_TOKENS if t not in token_to_index]
        return cls(tuple(tokens + missing), n_appended=len(missing))

    @classmethod
    def from_json(cls, path: str | Path) -> Vocab:
        path = Path(path)
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} is not valid JSON: {exc}") from exc
        return cls.from_mapping(data, source=str(path))

    def to_mapping(self) -> dict[str, int]:
        return dict(self.index)


@dataclass(frozen=True)
class GeneMapping:
    """Each column's vocabulary index (-1: none) and route, and a summary for ``uns``."""

    ids: np.ndarray
    routes: np.ndarray
    resolution: pd.DataFrame | None

    @property
    def matched(self) -> np.ndarray:
        return self.ids >= 0

    def summary(self, n_vocab: int, *, names=None, totals: np.ndarray | None = None) -> dict:
        """Counts per route (``exact`` first) and per reason for no match; with the genes'
        ``names`` the unmatched ones (most expressed first when ``totals``, each gene's total
        expression, is given; at most 50), and the fraction of total expression on matched genes."""
        counts = Counter(self.routes.tolist())
        reasons = [str(r) for r in counts if r not in ROUTES and r != EXACT]
        out = {
            "n_genes": len(self.ids),
            "n_matched": int(self.matched.sum()),
            "fraction_matched": float(self.matched.mean()) if len(self.ids) else 0.0,
            "n_vocab": n_vocab,
            "routes": {r: int(counts[r]) for r in (EXACT, *ROUTES) if counts[r]},
            "not_matched": {r: int(counts[r]) for r in sorted(reasons)},
        }
        if names is not None:
            missing = np.flatnonzero(~self.matched)
            if totals is not None:
                missing = missing[np.argsort(-totals[missing], kind="stable")]
            out["unmatched_genes"] = [str(names[i]) for i in missing[:50]]
        if totals is not None and totals.sum() > 0:
            out["expression_fraction"] = float(totals[self.matched].sum() / totals.sum())
        return out


def map_genes(
    var_names, vocab: Vocab, *, match: str = "resolver", resolver: GeneResolver | None = None, species="auto"
) -> GeneMapping:
    """The vocabulary index of each gene of ``var_names``.

    ``match="exact"`` is scGPT's own rule (a column whose name is a token); ``"resolver"`` adds the
    genes that resolve to the same NCBI gene as a token. A token is used by one column only: the
    exact match wins, then the first column.
    """
    if match not in MATCHES:
        raise InputError(f"Unknown match {match!r}; use one of {', '.join(MATCHES)}.")
    names = [str(v) for v in var_names]
    ids = np.full(len(names), -1, dtype=np.int64)
    routes = np.full(len(names), "unmatched", dtype=object)
    specials = set(SPECIAL_TOKENS)
    for i, name in enumerate(names):
        if name in vocab and name not in specials:
            ids[i], routes[i] = vocab[name], EXACT
    if match == "exact":
        return GeneMapping(ids, routes.astype(str), None)

    from ...genes.ids import default_resolver

    resolver = resolver or default_resolver()
    table = resolver.resolve(names, species=species).table
    token_of = _tokens_by_gene(vocab, resolver)
    taken = set(ids[ids >= 0].tolist())
    for i, (route, entrez) in enumerate(zip(table["route"], table["entrez"], strict=True)):
        if ids[i] >= 0:
            continue
        if route not in ROUTES:
            routes[i] = route  # "unmatched" or "ambiguous"
            continue
        token = token_of.get(entrez)
        if token is None:
            routes[i] = NOT_IN_VOCAB
        elif token in taken:
            routes[i] = DUPLICATE
        else:
            ids[i], routes[i] = token, route
            taken.add(token)
    return GeneMapping(ids, routes.astype(str), table)


_TOKENS_CACHE: dict[tuple[int, str], dict[str, int]] = {}


def _tokens_by_gene(vocab: Vocab, resolver: GeneResolver) -> dict[str, int]:
    """NCBI gene → vocabulary index. When several tokens resolve to one gene, the token by the
    most direct route wins (official symbol first), then the first in the vocabulary."""
    key = (id(resolver), vocab.sha256)
    if key not in _TOKENS_CACHE:
        genes = vocab.genes
        table = resolver.resolve(genes, species="human").table
        rank = {route: n for n, route in enumerate(ROUTES)}
        best: dict[str, tuple[int, int]] = {}
        for token, route, entrez in zip(genes, table["route"], table["entrez"], strict=True):
            if route in rank:
                candidate = (rank[route], vocab[token])
                if entrez not in best or candidate < best[entrez]:
                    best[entrez] = candidate
        _TOKENS_CACHE.clear()
        _TOKENS_CACHE[key] = {entrez: index for entrez, (_, index) in best.items()}
    return _TOKENS_CACHE[key]
