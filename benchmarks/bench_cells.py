"""Cell-embedding speed: textcell's kernels vs the GenePT reference path, side by side in one run.

    python benchmarks/bench_cells.py                     # 100,000 cells × 20,000 genes, density 0.06
    python benchmarks/bench_cells.py --cells 20000       # a quicker look

weighted (GenePT-w) at d = 384 and 1536 on a synthetic count matrix (seed 0):
- textcell:  tl.embed_cells' kernels (normalise, weight, average, in chunks of 10,000 cells), as the
             textcell recipe runs them: gene vectors in bfloat16, sums in float32;
- textcell-f32: the same with the gene vectors in float32 (``precision="float32"``);
- scipy:     the same maths with scipy's sparse `X @ E`;
- dense:     dense `X @ E` in float32 (on a slice of cells where all would not fit);
- genept:    GenePT's published path, `np.dot(X.toarray(), lookup_embed)` with its float64 table.
Each run times the paths in ``--timings`` rounds, every path once per round, back to back (a path
that has already run 20 s sits the later rounds out: scipy's). Reported: cells/s (each path's best
round), the ratios to dense and to GenePT's path (the median over rounds of the ratio within a
round, so that a drift of the machine between paths cancels: timed in a block per path, GenePT's
path ran 2,429-4,671 cells/s in three runs), the smallest cosine of textcell's cell vectors to
the float32 scipy path's, peak extra memory (tracemalloc of numpy/scipy buffers), and the
achieved GFLOP/s (2·nnz·d useful flops) against the machine's dense sgemm rate measured in the
same run.

sentence (GenePT-s) building on 10,000 cells: textcell's top-gene kernel vs GenePT's per-cell
dense loop (argsort of every cell's full row), with a check that the sentences are identical.

The whole measurement runs ``--repeats`` times (default 3), each in a fresh process; every rate,
and every ratio taken within a run, is reported as median [min–max] with its spread ((max − min)
/ median), beside the CPU model and flags, the cores, the load and the threads of numba, BLAS and
OpenMP (``textcell.bench.machine``). Writes benchmarks/results/cells.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anndata as ad
import numpy as np
from scipy import sparse

from textcell import _kernels
from textcell._expression import TARGET_SUM
from textcell._io import atomic_write
from textcell.bench.machine import describe, summary_line, threads
from textcell.bench.stats import format_median_range, median_range
from textcell.tl import embed_cells

RESULTS = Path(__file__).resolve().parent / "results"
DIMS = (384, 1536)
PATHS = ("textcell", "textcell-f32", "scipy", "dense", "genept")
TIMING_BUDGET = 20.0  # seconds; the slow scipy path at d = 1536 (90 s) is timed once
GENEPT_ARITHMETIC = {"highly_variable": False, "idf": False, "center": False, "whiten": False, "scale": False}


def synthetic_counts(n_cells: int, n_genes: int, density: float, seed: int = 0) -> sparse.csr_matrix:
    """Negative-binomial counts; popular genes are drawn more often (a gamma-distributed popularity).

    Genes are drawn with replacement and repeats merged, so the density is a little under ``density``.
    """
    rng = np.random.default_rng(seed)
    popularity = rng.gamma(0.5, size=n_genes)
    per_cell = rng.binomial(n_genes, density, size=n_cells)
    rows = np.repeat(np.arange(n_cells, dtype=np.int64), per_cell)
    genes = rng.choice(n_genes, size=rows.size, p=popularity / popularity.sum())
    keys = np.sort(rows * n_genes + genes)  # np.unique is ~20x slower here (numpy 2's hash path)
    keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
    data = rng.negative_binomial(2, 0.5, size=keys.size).astype(np.float32) + 1
    return sparse.csr_matrix((data, (keys // n_genes, keys % n_genes)), shape=(n_cells, n_genes))


def lognorm(block: sparse.csr_matrix) -> sparse.csr_matrix:
    totals = np.asarray(block.sum(axis=1)).ravel()
    out = sparse.diags(TARGET_SUM / totals) @ block
    out.data = np.log1p(out.data)
    return out


def l2(vectors: np.ndarray) -> np.ndarray:
    """GenePT-w's last step; the per-cell weight normalisation cancels in it."""
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def prefault(gigabytes: float) -> None:
    """Touch memory once, so that the first path timed does not pay for this VM backing fresh pages."""
    np.ones(int(gigabytes * 2**28), dtype=np.float32)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def sgemm_rate() -> float:
    a = np.random.default_rng(0).standard_normal((4096, 4096), dtype=np.float32)
    a @ a
    seconds, _ = timed(lambda: a @ a)
    return 2 * 4096**3 / seconds / 1e9


def bench_weighted(counts: sparse.csr_matrix, dim: int, chunk: int, dense_cells: int, timings: int) -> dict:
    import tracemalloc

    rng = np.random.default_rng(1)
    embeddings = rng.standard_normal((counts.shape[1], dim)).astype(np.float32)
    n = counts.shape[0]

    adata = ad.AnnData(counts)
    adata.varm["textcell"] = embeddings
    adata.var["textcell_has_embedding"] = True

    def ours(precision=None):
        # the arithmetic of X @ E: no idf weights, no centring
        embed_cells(adata, normalize="counts", chunk_size=chunk, precision=precision, **GENEPT_ARITHMETIC)
        return adata.obsm["X_textcell"]

    def scipy_path():
        out = np.empty((n, dim), dtype=np.float32)
        for start in range(0, n, chunk):
            x = lognorm(counts[start : start + chunk])
            out[start : start + chunk] = x @ embeddings
        return l2(out)

    def dense_path():
        x = lognorm(counts[:dense_cells]).toarray()
        return l2(x @ embeddings)

    lookup_embed = embeddings.astype(np.float64)  # GenePT's table: np.zeros((genes, dim)), float64

    def genept_path():
        x = lognorm(counts[:dense_cells]).toarray()
        return l2(np.dot(x, lookup_embed))

    embed_cells(adata[:100].copy(), normalize="counts", **GENEPT_ARITHMETIC)  # compile
    paths = {"textcell": (ours, n), "textcell-f32": (lambda: ours("float32"), n), "scipy": (scipy_path, n)}
    paths |= {"dense": (dense_path, dense_cells), "genept": (genept_path, dense_cells)}
    seconds = {name: [] for name in PATHS}  # per round; None where a path sat the round out
    peaks, results = dict.fromkeys(PATHS, 0), {}
    for _ in range(timings):  # rounds: every path once, back to back, so a drift hits all alike
        for name in PATHS:
            fn, cells = paths[name]
            if sum(s for s in seconds[name] if s) >= TIMING_BUDGET:  # timed enough
                seconds[name].append(None)
                continue
            tracemalloc.start()
            elapsed, result = timed(fn)
            peaks[name] = max(peaks[name], tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            seconds[name].append(elapsed)
            results.setdefault(name, np.array(result))  # a copy: ours writes into one obsm array
    rows = {}
    for name in PATHS:
        cells = paths[name][1]
        best = min(s for s in seconds[name] if s)
        nnz = counts[:cells].nnz
        rows[name] = {
            "cells": cells,
            "seconds": best,
            "seconds_per_round": seconds[name],
            "cells_per_s": cells / best,
            "peak_mb": peaks[name] / 1e6,
            "gflops": 2 * nnz * dim / best / 1e9,
        }
        for reference in ("dense", "genept"):
            rows[name][f"x_{reference}_per_round"] = ratios_per_round(
                seconds[name], cells, seconds[reference], paths[reference][1]
            )
        if name != "textcell":
            ours_result, result = results["textcell"][:cells], results[name]
            difference = np.abs(ours_result - result).max()
            rows[f"max_abs_difference_vs_{name}"] = float(difference)
            cosine = np.einsum("ij,ij->i", ours_result, result) / np.linalg.norm(result, axis=1)
            rows[f"min_cosine_vs_{name}"] = float(cosine.min())  # ours are unit vectors
        speed, peak = rows[name]["cells_per_s"], rows[name]["peak_mb"]
        print(f"d={dim} {name:>12}: {speed:,.0f} cells/s, peak {peak:,.0f} MB", flush=True)
    return rows


def ratios_per_round(mine: list, cells: int, theirs: list, their_cells: int) -> list[float]:
    """Rate ÷ the reference's rate in each round where both were timed (back to back)."""
    both = [(s, t) for s, t in zip(mine, theirs, strict=True) if s is not None and t is not None]
    return [(cells / s) / (their_cells / t) for s, t in both]


def genept_sentences(dense_rows: np.ndarray, symbols: np.ndarray, k: int) -> list[str]:
    out = []
    for row in dense_rows:  # GenePT-s: rank every gene of every cell, keep the expressed ones
        order = np.argsort(-row, kind="stable")
        order = order[row[order] > 0][:k]
        out.append(" ".join(symbols[order]))
    return out


def bench_sentences(counts: sparse.csr_matrix, k: int = 100) -> dict:
    symbols = np.array([f"G{i}" for i in range(counts.shape[1])])
    eligible = np.ones(counts.shape[1], dtype=bool)

    def ours():
        top = np.full((counts.shape[0], k), -1, dtype=np.int64)
        _kernels.top_genes(counts.indptr, counts.indices, counts.data, eligible, k, top)
        return _kernels.sentences(top, symbols)

    ours()
    ours_s, mine = timed(ours)
    genept_s, theirs = timed(lambda: genept_sentences(counts.toarray(), symbols, k))
    return {
        "cells": counts.shape[0],
        "textcell_s": ours_s,
        "genept_loop_s": genept_s,
        "speedup": genept_s / ours_s,
        "identical": mine == theirs,
    }


def measure(args: argparse.Namespace) -> dict:
    """One run of every path, in this process."""
    machine = describe()
    seconds, counts = timed(lambda: synthetic_counts(args.cells, args.genes, args.density))
    print(
        f"synthetic {args.cells:,} × {args.genes:,}, nnz {counts.nnz:,} ({seconds:.0f} s to make)", flush=True
    )
    prefault(4)
    results = {
        "cells": args.cells,
        "genes": args.genes,
        "density": args.density,
        "seed": 0,
        "machine": machine,
        "sgemm_gflops": sgemm_rate(),
        "weighted": {},
    }
    for dim in DIMS:
        results["weighted"][str(dim)] = bench_weighted(counts, dim, 10_000, args.dense_cells, args.timings)
    results["sentence"] = bench_sentences(counts[:10_000])
    results["threads"] = threads()  # after the kernels ran: numba's pool and layer are started
    return results


def summarize_runs(runs: list[dict]) -> dict:
    """Median [min–max] over the runs of every rate, and of every ratio taken within a run."""
    out = {"sgemm_gflops": median_range([r["sgemm_gflops"] for r in runs]), "weighted": {}}
    for dim in runs[0]["weighted"]:
        out["weighted"][dim] = {}
        for name in PATHS:
            rows = [(run["weighted"][dim], run["sgemm_gflops"]) for run in runs]
            out["weighted"][dim][name] = {
                "cells_per_s": median_range([w[name]["cells_per_s"] for w, _ in rows]),
                "x_dense": median_range([float(np.median(w[name]["x_dense_per_round"])) for w, _ in rows]),
                "x_genept": median_range([float(np.median(w[name]["x_genept_per_round"])) for w, _ in rows]),
                "gflops": median_range([w[name]["gflops"] for w, _ in rows]),
                "of_sgemm": median_range([w[name]["gflops"] / sgemm for w, sgemm in rows]),
                "peak_mb": max(w[name]["peak_mb"] for w, _ in rows),
            }
        out["weighted"][dim]["min_cosine_textcell_vs_scipy"] = min(
            run["weighted"][dim]["min_cosine_vs_scipy"] for run in runs
        )
    out["sentence_speedup"] = median_range([r["sentence"]["speedup"] for r in runs])
    out["sentences_identical"] = all(r["sentence"]["identical"] for r in runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--density", type=float, default=0.06)
    parser.add_argument("--dense-cells", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3, help="fresh-process runs (default 3)")
    parser.add_argument(
        "--timings", type=int, default=5, help="rounds of timings of every path in a run (default 5)"
    )
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_out:
        with atomic_write(args.worker_out, "w") as handle:
            json.dump(measure(args), handle)
        return
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            print(f"run {repeat + 1} of {args.repeats} (a fresh process)", flush=True)
            out = Path(tmp) / f"run-{repeat}.json"
            options = ["--cells", args.cells, "--genes", args.genes, "--density", args.density]
            options += ["--dense-cells", args.dense_cells, "--timings", args.timings, "--worker-out", out]
            subprocess.run([sys.executable, __file__, *map(str, options)], check=True)
            runs.append(json.loads(out.read_text()))
    summary = summarize_runs(runs)
    results = {
        **{k: runs[0][k] for k in ("cells", "genes", "density", "seed")},
        "summary": summary,
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    with atomic_write(RESULTS / "cells.json", "w") as handle:
        json.dump(results, handle, indent=2)
    threads_used = ", ".join(f"{name} {n}" for name, n in runs[0]["threads"].items())
    table = [
        f"synthetic {args.cells:,} cells × {args.genes:,} genes, density {args.density}, seed 0; "
        f"{args.repeats} runs, each in a fresh process: median [min–max]. Dense sgemm here: "
        f"{format_median_range(summary['sgemm_gflops'], 0)} GFLOP/s. {summary_line(runs[0]['machine'])}; "
        f"threads: {threads_used}.",
        "",
        "| d | path | cells/s | × dense | spread | × GenePT | spread | GFLOP/s | of sgemm | peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dim, rows in summary["weighted"].items():
        for name in PATHS:
            r = rows[name]
            table.append(
                f"| {dim} | {name} | {format_median_range(r['cells_per_s'], 0)} | "
                f"{format_median_range(r['x_dense'], 1)} | {r['x_dense']['spread']:.0%} | "
                f"{format_median_range(r['x_genept'], 1)} | {r['x_genept']['spread']:.0%} | "
                f"{format_median_range(r['gflops'], 1)} | {r['of_sgemm']['median']:.0%} | "
                f"{r['peak_mb']:,.0f} |"
            )
    speedup = summary["sentence_speedup"]
    cosines = ", ".join(
        f"d = {dim} {rows['min_cosine_textcell_vs_scipy']:.6f}" for dim, rows in summary["weighted"].items()
    )
    table += [
        "",
        f"textcell (bfloat16 gene vectors) vs the float32 scipy path, smallest cosine of any cell: {cosines}",
        f"sentences for 10,000 cells: textcell vs GenePT's loop {format_median_range(speedup, 0)}× "
        f"(spread {speedup['spread']:.0%}), identical in every run: {summary['sentences_identical']}",
    ]
    with atomic_write(RESULTS / "cells.md", "w") as handle:
        handle.write("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
