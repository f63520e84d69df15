"""Vectors shipped with the package (made by ``scripts/build_default_embeddings.py``).

A file ``data/<fingerprint>.npz`` holds ``keys`` (sha256 content keys, as in the vector cache)
and ``vectors`` (float16). It answers only for the exact embedder fingerprint and text it was
made from, so a different model, view, or corpus can never be served from it.
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
    return dict(zip(keys, vectors, strict=True))
