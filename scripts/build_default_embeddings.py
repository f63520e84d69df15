"""Build the vectors shipped with textcell: the default model on the bundled corpus's cards.

    python scripts/build_default_embeddings.py

Embeds the `card` text of every protein-coding gene and every gene with GO terms with the default
local model (all-MiniLM-L6-v2) through the normal vector cache (an interrupted build resumes),
then writes src/textcell/embed/data/<fingerprint>.npz: the content keys and float16 vectors.
The file answers only for this exact model, view and corpus; any change gives new keys.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from textcell._io import atomic_write
from textcell.embed import LocalEmbedder, embed_texts
from textcell.embed.cache import text_key
from textcell.genes import GeneCorpus

DATA = Path(__file__).resolve().parents[1] / "src" / "textcell" / "embed" / "data"


def main() -> None:
    corpus = GeneCorpus.load()
    cols = corpus.columns
    genes = [
        e
        for e, t, go in zip(cols["entrez"], cols["type"], cols["go"], strict=True)
        if t == "protein-coding" or go
    ]
    texts = list(dict.fromkeys(corpus.render(genes, view="card")))
    embedder = LocalEmbedder()
    start = time.perf_counter()
    vectors = embed_texts(embedder, texts)
    print(f"embedded {len(texts):,} cards in {time.perf_counter() - start:.0f} s")
    fingerprint = embedder.fingerprint()
    keys = np.frombuffer(b"".join(bytes.fromhex(text_key(fingerprint, t)) for t in texts), dtype=np.uint8)
    packed = vectors.astype(np.float16)
    for old in DATA.glob("*.npz"):
        old.unlink()
    target = DATA / f"{fingerprint}.npz"
    with atomic_write(target) as handle:
        np.savez_compressed(handle, keys=keys.reshape(-1, 32), vectors=packed)
    error = np.abs(packed.astype(np.float32) - vectors).max()
    print(
        f"wrote {target.relative_to(DATA.parents[3])}: {len(texts):,} vectors, "
        f"{target.stat().st_size / 1e6:.1f} MB, float16 max abs error {error:.1e}"
    )


if __name__ == "__main__":
    main()
