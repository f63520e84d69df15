"""Cell-embedding speed: textcell's kernels vs the GenePT reference path, side by side in one run.

    python benchmarks/bench_cells.py                     # 100,000 cells × 20,000 genes, density 0.06
    python benchmarks/bench_cells.py --cells 20000       # a quicker look

weighted (GenePT-w) at d = 384 and 1536 on a synthetic count matrix (seed 0):
- textcell:  tl.embed_cells' kernels (normalise, weight, average, in chunks of 10,000 cells);
- scipy:     the same maths with scipy's sparse `X @ E`;
- dense:     dense `X @ E` in float32 (on a slice of cells where all would not fit);
- genept:    GenePT's published path, `np.dot(X.toarray(), lookup_embed)` with its float64 table.
Reported: cells/s, the ratios to dense and to GenePT's path, peak extra memory (tracemalloc of
numpy/scipy buffers), and the achieved GFLOP/s (2·nnz·d useful flops) against the machine's dense sgemm rate.

sentence (GenePT-s) building on 10,000 cells: textcell's top-gene kernel vs GenePT's per-cell
dense loop (argsort of every cell's full row), with a check that the sentences are identical.
Writes benchmarks/results/cells.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import anndata as ad
import numpy as np
from scipy import sparse

from textcell import _kernels
from textcell._expression import TARGET_SUM
from textcell._io import atomic_write
from textcell.tl import embed_cells

RESULTS = Path(__file__).resolve().parent / "results"
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


def bench_weighted(counts: sparse.csr_matrix, dim: int, chunk: int, dense_cells: int) -> dict:
    import tracemalloc

    rng = np.random.default_rng(1)
    embeddings = rng.standard_normal((counts.shape[1], dim)).astype(np.float32)
    n = counts.shape[0]

    adata = ad.AnnData(counts)
    adata.varm["textcell"] = embeddings
    adata.var["textcell_has_embedding"] = True

    def ours():
        # the arithmetic of X @ E: no idf weights, no centring
        embed_cells(adata, normalize="counts", chunk_size=chunk, **GENEPT_ARITHMETIC)
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
    rows = {}
    for name, fn, cells in (
        ("textcell", ours, n),
        ("scipy", scipy_path, n),
        ("dense", dense_path, dense_cells),
        ("genept", genept_path, dense_cells),
    ):
        tracemalloc.start()
        seconds, result = timed(fn)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        nnz = counts[:cells].nnz
        rows[name] = {
            "cells": cells,
            "seconds": seconds,
            "cells_per_s": cells / seconds,
            "peak_mb": peak / 1e6,
            "gflops": 2 * nnz * dim / seconds / 1e9,
        }
        if name == "textcell":
            ours_result = result
        else:
            difference = np.abs(ours_result[: len(result)] - result).max()
            rows[f"max_abs_difference_vs_{name}"] = float(difference)
        speed, peak = rows[name]["cells_per_s"], rows[name]["peak_mb"]
        print(f"d={dim} {name:>8}: {speed:,.0f} cells/s, peak {peak:,.0f} MB", flush=True)
    return rows


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--density", type=float, default=0.06)
    parser.add_argument("--dense-cells", type=int, default=5_000)
    args = parser.parse_args()

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
        "sgemm_gflops": sgemm_rate(),
        "weighted": {},
    }
    for dim in (384, 1536):
        results["weighted"][str(dim)] = bench_weighted(counts, dim, 10_000, args.dense_cells)
    results["sentence"] = bench_sentences(counts[:10_000])
    RESULTS.mkdir(exist_ok=True)
    with atomic_write(RESULTS / "cells.json", "w") as handle:
        json.dump(results, handle, indent=2)
    table = [
        f"synthetic {args.cells:,} cells × {args.genes:,} genes, density {args.density}, seed 0; "
        f"dense sgemm here: {results['sgemm_gflops']:.0f} GFLOP/s",
        "",
        "| d | path | cells/s | × dense | × GenePT | peak MB | GFLOP/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for dim, rows in results["weighted"].items():
        dense, genept = rows["dense"]["cells_per_s"], rows["genept"]["cells_per_s"]
        for name in ("textcell", "scipy", "dense", "genept"):
            r = rows[name]
            table.append(
                f"| {dim} | {name} | {r['cells_per_s']:,.0f} | {r['cells_per_s'] / dense:.1f} | "
                f"{r['cells_per_s'] / genept:.1f} | {r['peak_mb']:,.0f} | {r['gflops']:.1f} |"
            )
    s = results["sentence"]
    table += [
        "",
        f"sentences for {s['cells']:,} cells: textcell {s['textcell_s']:.2f} s, GenePT loop "
        f"{s['genept_loop_s']:.2f} s ({s['speedup']:.0f}×), identical: {s['identical']}",
    ]
    with atomic_write(RESULTS / "cells.md", "w") as handle:
        handle.write("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
