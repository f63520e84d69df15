"""Vectors shipped with the package (made by ``scripts/build_default_embeddings.py``).

A file ``data/<fingerprint>.npz`` holds ``keys`` (sha256 content keys, as in the vector cache)
and ``vectors``: float16, or int8 with a per-row float32 ``scale`` (vector ≈ int8 row × scale),
which halves the file of a wide model. It answers only for the exact embedder fingerprint and
text it was made from, so a different model, view, or corpus can never be served from it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources

import numpy as np


@functools.cache
def bundled_vectors(fingerprint: str) -> Mapping[str, np.ndarray] | None:
    entry = resources.files("textcell.embed") / "data" / f"{fingerprint}.npz"
    if not entry.is_file():
        return None
    with entry.open("rb") as handle, np.load(handle) as pack:
        keys = [bytes(k).hex() for k in pack["keys"]]
        vectors = pack["vectors"].astype(np.float32)
        if "scale" in pack:
            vectors *= pack["scale"][:, None]
    return dict(zip(keys, vectors, strict=True))


def quantize(vectors: np.ndarray) -> dict[str, np.ndarray]:
    """int8 rows and their float32 scales (each row's largest |value| maps to 127)."""
    scale = np.abs(vectors).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    return {"vectors": np.round(vectors / scale[:, None]).astype(np.int8), "scale": scale.astype(np.float32)}
