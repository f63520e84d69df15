"""Embed texts through an embedder and the vector cache; plan (dry-run) what that would cost."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import numpy as np

from .._progress import progress_bar
from .._settings import settings
from ..errors import BackendError
from .base import Embedder, missing_runtime
from .bundled import bundled_vectors
from .cache import VectorCache, text_key

logger = logging.getLogger("textcell")


def estimate_tokens(text: str) -> int:
    """A tokenizer-free token estimate: about 4 characters per token for English text."""
    return max(1, -(-len(text) // 4))


@dataclass(frozen=True)
class EmbeddingPlan:
    """What embedding a list of texts would do, before any of it is done."""

    model_id: str
    fingerprint: str
    n_texts: int
    n_unique: int
    n_cached: int
    n_to_embed: int
    tokens_to_embed: int
    usd_per_million_tokens: float | None
    estimated_cost_usd: float | None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def __str__(self) -> str:
        cost = "" if self.estimated_cost_usd is None else f", estimated cost ${self.estimated_cost_usd:,.4f}"
        return (
            f"{self.model_id}: {self.n_texts:,} texts ({self.n_unique:,} unique), {self.n_cached:,} cached, "
            f"{self.n_to_embed:,} to embed (~{self.tokens_to_embed:,} tokens{cost})"
        )


def _open_cache(embedder: Embedder, use_cache: bool, *, create: bool = True):
    """The embedder's cache; ``create=False`` leaves the disk untouched when it has none yet."""
    fingerprint = embedder.fingerprint()
    if not use_cache or not (create or VectorCache.exists(fingerprint)):
        return nullcontext()
    return VectorCache(fingerprint, model_id=embedder.model_id)


def _cached(embedder: Embedder, keys: list[str], store: VectorCache | None) -> dict[str, np.ndarray]:
    """Vectors the user's cache or the vectors shipped with textcell already hold."""
    found = store.get(keys) if store is not None else {}
    shipped = bundled_vectors(embedder.fingerprint()) if settings.shipped_vectors else None
    if shipped:
        found.update({k: shipped[k] for k in keys if k in shipped and k not in found})
    return found


def _keys(embedder: Embedder, texts: Sequence[str]) -> tuple[list[str], list[str]]:
    unique = list(dict.fromkeys(texts))
    fingerprint = embedder.fingerprint()
    return unique, [text_key(fingerprint, t) for t in unique]


def plan_texts(embedder: Embedder, texts: Sequence[str], *, cache: bool = True) -> EmbeddingPlan:
    """Count texts, cache hits and tokens; no text is sent anywhere."""
    unique, keys = _keys(embedder, texts)
    with _open_cache(embedder, cache, create=False) as store:
        found = _cached(embedder, keys, store)
    todo = [t for k, t in zip(keys, unique, strict=True) if k not in found]
    tokens = sum(map(estimate_tokens, todo))
    price = getattr(embedder, "usd_per_million_tokens", None)
    return EmbeddingPlan(
        model_id=embedder.model_id,
        fingerprint=embedder.fingerprint(),
        n_texts=len(texts),
        n_unique=len(unique),
        n_cached=len(unique) - len(todo),
        n_to_embed=len(todo),
        tokens_to_embed=tokens,
        usd_per_million_tokens=price,
        estimated_cost_usd=None if price is None else tokens * price / 1e6,
    )


def cached_texts(
    embedder: Embedder, texts: Sequence[str], *, cache: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of ``texts`` that the user's cache or the shipped vectors hold (zeros elsewhere)
    and the mask of those found; nothing is computed."""
    unique, keys = _keys(embedder, texts)
    with _open_cache(embedder, cache, create=False) as store:
        found = _cached(embedder, keys, store)
    key_of = dict(zip(unique, keys, strict=True))
    mask = np.array([key_of[t] in found for t in texts], dtype=bool)
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    if mask.any():
        out[mask] = np.stack([found[key_of[t]] for t, ok in zip(texts, mask, strict=True) if ok])
    return out, mask


def embed_texts(embedder: Embedder, texts: Sequence[str], *, cache: bool = True) -> np.ndarray:
    """Vectors of ``texts`` (float32, one row per text), computing only what no cache holds.

    Identical texts are embedded once. Each finished batch is written to the cache at once,
    so an interrupted run resumes where it stopped.
    """
    unique, keys = _keys(embedder, texts)
    with _open_cache(embedder, cache) as store:
        found = _cached(embedder, keys, store)
        todo = [i for i, k in enumerate(keys) if k not in found]
        if todo and (reason := missing_runtime(embedder)):
            raise BackendError(
                f"{len(todo):,} of {len(unique):,} texts have no cached or shipped vector for "
                f"{embedder.model_id}, and {reason}."
            )
        if todo:
            logger.info("Embedding %d texts with %s (%d cached).", len(todo), embedder.model_id, len(found))
            pending = [unique[i] for i in todo]
            with progress_bar(
                total=len(pending), desc=f"embedding ({embedder.model_id})", unit="text"
            ) as bar:
                for positions, vectors in embedder.embed_stream(pending):
                    vectors = np.asarray(vectors, dtype=np.float32)
                    batch_keys = [keys[todo[p]] for p in positions]
                    if store is not None:
                        store.put(batch_keys, vectors)
                    found.update(zip(batch_keys, vectors, strict=True))
                    bar.update(len(positions))
    index = {t: i for i, t in enumerate(unique)}
    if not texts:
        return np.empty((0, embedder.dim), dtype=np.float32)
    return np.stack([found[keys[index[t]]] for t in texts]).astype(np.float32, copy=False)
