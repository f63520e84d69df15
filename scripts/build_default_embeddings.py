"""Build the vectors shipped with textcell: the default embedding, and the previous default.

    python scripts/build_default_embeddings.py            # what is missing or out of date
    python scripts/build_default_embeddings.py --force    # rebuild every file

For each shipped (model, view) — textcell's default (``textcell._defaults``) and the previous
default (all-MiniLM-L6-v2 on the ``card`` view) — embeds the text of every gene that the view gives
one, among the protein-coding genes and the genes with GO terms or a RefSeq summary, through the
normal vector cache (an interrupted build resumes), then writes
src/textcell/embed/data/<fingerprint>.npz: the content keys and the vectors, float16 for models of
up to 384 dimensions and int8 codes with a per-row scale above (``textcell.embed.bundled.quantize``;
each file stays under 20 MB; the script prints the smallest cosine to the float32 vectors). A file
answers only for this exact model, view, corpus and summaries; any change gives new keys. Files
of no shipped embedder are removed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from textcell._defaults import DEFAULT_MODEL, DEFAULT_VIEW, PREVIOUS_DEFAULT
from textcell._io import atomic_write
from textcell._settings import settings
from textcell.embed import embed_texts, get_embedder
from textcell.embed.bundled import dequantize, quantize
from textcell.embed.cache import text_key
from textcell.genes import GeneCorpus

DATA = Path(__file__).resolve().parents[1] / "src" / "textcell" / "embed" / "data"
SHIPPED = ((DEFAULT_MODEL, DEFAULT_VIEW), (PREVIOUS_DEFAULT["model"], PREVIOUS_DEFAULT["view"]))
MAX_FLOAT16_DIM = 384
MAX_BYTES = 20e6


def build(model: str, view: str, corpus: GeneCorpus, *, force: bool) -> Path:
    embedder = get_embedder(model, corpus=corpus, view=view)
    fingerprint = embedder.fingerprint()
    target = DATA / f"{fingerprint}.npz"
    cols = corpus.columns
    genes = [
        e
        for e, t, go in zip(cols["entrez"], cols["type"], cols["go"], strict=True)
        if t == "protein-coding" or go or e in corpus.summaries
    ]
    texts = [t for t in dict.fromkeys(corpus.render(genes, view=view)) if t]
    keys = np.frombuffer(b"".join(bytes.fromhex(text_key(fingerprint, t)) for t in texts), dtype=np.uint8)
    if target.is_file() and not force:
        with np.load(target) as shipped:
            if np.array_equal(shipped["keys"].reshape(-1), keys):
                print(f"{model} / {view}: {target.name} is there and holds every current text")
                return target
        print(f"{model} / {view}: {target.name} holds other texts (corpus or view changed); rebuilding")
    start = time.perf_counter()
    vectors = embed_texts(embedder, texts)
    print(f"{model} / {view}: embedded {len(texts):,} texts in {time.perf_counter() - start:.0f} s")
    wide = vectors.shape[1] > MAX_FLOAT16_DIM
    packed = quantize(vectors) if wide else {"vectors": vectors.astype(np.float16)}
    with atomic_write(target) as handle:
        np.savez_compressed(handle, keys=keys.reshape(-1, 32), **packed)
    restored = (
        dequantize(packed["vectors"], packed["scale"]) if wide else packed["vectors"].astype(np.float32)
    )
    cosine = np.sum(restored * vectors, axis=1) / (
        np.linalg.norm(restored, axis=1) * np.linalg.norm(vectors, axis=1)
    )
    size = target.stat().st_size
    print(
        f"wrote {target.relative_to(DATA.parents[3])}: {len(texts):,} vectors of {vectors.shape[1]}-d "
        f"({packed['vectors'].dtype}), {size / 1e6:.1f} MB, smallest cosine to float32 {cosine.min():.6f}"
    )
    if size > MAX_BYTES:
        raise SystemExit(f"{target.name} is {size / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.0f} MB limit.")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--force", action="store_true", help="rebuild files that exist")
    args = parser.parse_args()
    settings.shipped_vectors = False  # the files being rebuilt must never serve themselves
    corpus = GeneCorpus.load()
    kept = {build(model, view, corpus, force=args.force) for model, view in SHIPPED}
    for old in set(DATA.glob("*.npz")) - kept:
        print(f"removed {old.name} (no shipped embedder)")
        old.unlink()


if __name__ == "__main__":
    main()
