"""The Embedder protocol and the registry that turns names into embedders.

A text embedder has a ``name`` (its backend), a ``model_id``, a dimension ``dim``, a
``fingerprint()`` that changes whenever its vectors would change, and ``embed_batch(texts)``.
Gene-keyed sources (imported tables) implement ``embed_genes(entrez_ids, ...)`` instead; combined embedders
accept either. Register a backend with :func:`register`; :func:`get_embedder` resolves a name,
an alias or a ``backend:argument`` spec, and passes an Embedder instance through as is.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

EMBEDDING_FORMAT = 1  # bump when the way vectors are produced changes for every backend


class Embedder(ABC):
    """A text → vector model."""

    name: str
    model_id: str
    dim: int
    batch_size: int = 32

    @abstractmethod
    def fingerprint(self) -> str:
        """A stable id of everything that determines the vectors (never secrets)."""

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts`` as a float32 array of shape ``(len(texts), dim)``."""

    def embed_stream(self, texts: Sequence[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(positions, vectors)`` as batches finish, so callers can cache as they go."""
        order = self.stream_order(texts)
        step = self.batch_size * 4
        for start in range(0, len(texts), step):
            positions = order[start : start + step]
            yield positions, self.embed_batch([texts[i] for i in positions])

    def missing_runtime(self) -> str | None:
        """Why this embedder cannot compute new vectors here (a dependency to install), or ``None``."""
        return None

    def stream_order(self, texts: Sequence[str]) -> np.ndarray:
        """The order in which :meth:`embed_stream` takes the texts (as given, by default)."""
        return np.arange(len(texts))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r}, dim={self.dim})"


def missing_runtime(embedder) -> str | None:
    """Why ``embedder`` cannot compute new vectors here, or ``None`` (also for duck-typed ones)."""
    check = getattr(embedder, "missing_runtime", None)
    return check() if check else None


def longest_first(texts: Sequence[str]) -> np.ndarray:
    """Indices of the texts, longest first (stable): batches of similar length pad little."""
    return np.argsort([-len(text) for text in texts], kind="stable")


def make_fingerprint(**fields) -> str:
    """A short sha256 of the fields that define an embedder's output."""
    payload = json.dumps({"embedding_format": EMBEDDING_FORMAT, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Backend:
    name: str
    factory: Callable[..., Embedder]
    description: str


_BACKENDS: dict[str, Backend] = {}
_NAMES: dict[str, tuple[str, str]] = {}  # name or alias -> (spec, description)


def register_backend(name: str, factory: Callable[..., Embedder], description: str) -> None:
    """Make ``"name:argument"`` resolve to ``factory(argument, **context)``."""
    _BACKENDS[name.lower()] = Backend(name, factory, description)


def register_name(name: str, spec: str, description: str) -> None:
    """Make ``name`` a short form of the spec ``"backend:argument"``."""
    _NAMES[name.lower()] = (spec, description)


def available() -> dict[str, str]:
    """Everything :func:`get_embedder` accepts, with a description of each."""
    from . import _backends  # noqa: F401  (registers the built-in backends)

    out = {name: f"{description} [{spec}]" for name, (spec, description) in _NAMES.items()}
    out.update({f"{b.name}:...": b.description for b in _BACKENDS.values()})
    return out


def get_embedder(model: str | Embedder | object, **context) -> Embedder:
    """Resolve ``model`` to an embedder.

    ``model`` is an Embedder (used as is), a registered name (``"all-MiniLM-L6-v2"``,
    ``"tfidf"``), or ``"backend:argument"`` (``"local:/path/to/model"``,
    ``"api:text-embedding-3-small"``, ``"precomputed:genept.json"``). ``context`` (corpus,
    view, ...) is passed to the backend's factory.
    """
    if not isinstance(model, str):
        if hasattr(model, "embed_batch") or hasattr(model, "embed_genes"):
            return model
        raise InputError(f"Expected an embedder name or an Embedder instance, got {type(model).__name__}.")
    names = available()
    spec = _NAMES.get(model.lower(), (model, ""))[0]
    prefix, _, argument = spec.partition(":")
    backend = _BACKENDS.get(prefix.lower())
    if backend is None:
        listing = "; ".join(f"{n} ({d})" for n, d in names.items())
        raise InputError(f"Unknown embedding model {model!r}. Valid names: {listing}.")
    return backend.factory(argument or None, **context)
