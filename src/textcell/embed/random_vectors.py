"""Random vectors, one fixed vector per text: the control every text embedding must beat."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from .base import Embedder, make_fingerprint


class RandomEmbedder(Embedder):
    """Gaussian vectors seeded by ``seed`` and the text itself, L2-normalised.

    The same text always gets the same vector, so results are reproducible; different texts
    get unrelated vectors.
    """

    name = "random"
    batch_size = 4096

    def __init__(self, *, dim: int = 384, seed: int = 0):
        self.dim, self.seed = dim, seed
        self.model_id = f"random-{dim}-seed{seed}"

    def fingerprint(self) -> str:
        return make_fingerprint(backend="random", dim=self.dim, seed=self.seed)

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(f"{self.seed}\0{text}".encode()).digest()[:8], "little")
            out[i] = np.random.default_rng(seed).standard_normal(self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)
