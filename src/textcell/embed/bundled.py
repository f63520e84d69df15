"""Vectors shipped with the package (made by ``scripts/build_default_embeddings.py``).

A file ``data/<fingerprint>.npz`` holds ``keys`` (sha256 content keys, as in the vector cache)
and ``vectors``: float16, or int8 codes with a per-row float32 ``scale`` (:func:`quantize`), which
halves the file of a wide model. It answers only for the exact embedder fingerprint and
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
            vectors = dequantize(vectors, pack["scale"])
    return dict(zip(keys, vectors, strict=True))


def quantize(vectors: np.ndarray) -> dict[str, np.ndarray]:
    """int8 codes of the square root of each value relative to its row's largest |value| (the
    ``scale``), signed: finer steps near zero, where most values of a dense vector lie. On the
    default's 512-d vectors the cosine to float32 is at least 0.9999, where linear int8 codes
    reach only 0.9988."""
    scale = np.abs(vectors).max(axis=1)
    scale[scale == 0] = 1.0
    codes = np.sign(vectors) * np.round(127 * np.sqrt(np.abs(vectors) / scale[:, None]))
    return {"vectors": codes.astype(np.int8), "scale": scale.astype(np.float32)}


def dequantize(codes: np.ndarray, scale: np.ndarray) -> np.ndarray:
    codes = codes.astype(np.float32)
    return (np.sign(codes) * (codes / 127) ** 2 * scale[:, None]).astype(np.float32)
