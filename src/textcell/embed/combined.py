"""Combine several embedders: concatenate or average their L2-normalised gene vectors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from .base import make_fingerprint

MODES = ("concat", "mean")


class CombinedEmbedder:
    """Several embedders as one.

    A gene has a combined vector only when every member has one for it. Each member's vectors
    are L2-normalised first so no model dominates by scale.

    Parameters
    ----------
    members
        Embedders or names (anything :func:`~textcell.embed.get_embedder` takes).
    mode
        ``"concat"`` (dimension = sum of members') or ``"mean"`` (members of equal dimension).
    """

    name = "combined"

    def __init__(self, members: Sequence, *, mode: str = "concat", **context):
        from .base import get_embedder

        if mode not in MODES:
            raise InputError(f"Unknown combination mode {mode!r}; use one of {', '.join(MODES)}.")
        if len(members) < 2:
            raise InputError("A combined embedder needs at least two members.")
        self.members = [get_embedder(m, **context) for m in members]
        self.mode = mode
        dims = [m.dim for m in self.members]
        if mode == "mean" and len(set(dims)) > 1:
            raise InputError(f"mode='mean' needs members of equal dimension, got {dims}; use mode='concat'.")
        self.dim = sum(dims) if mode == "concat" else dims[0]
        self.model_id = f"{mode}(" + ", ".join(m.model_id for m in self.members) + ")"

    def fingerprint(self) -> str:
        return make_fingerprint(
            backend="combined", mode=self.mode, members=[m.fingerprint() for m in self.members]
        )

    def embed_genes(self, entrez_ids, *, corpus, view, cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
        from .gene_embeddings import gene_vectors

        parts, found = [], np.ones(len(entrez_ids), dtype=bool)
        for member in self.members:
            matrix, ok = gene_vectors(member, entrez_ids, corpus=corpus, view=view, cache=cache)
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            parts.append(np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0))
            found &= ok
        combined = np.concatenate(parts, axis=1) if self.mode == "concat" else np.mean(parts, axis=0)
        combined[~found] = 0
        return combined.astype(np.float32), found
