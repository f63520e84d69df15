"""Out of core: embed a generated 1,000,000-cell × 20,000-gene backed h5ad and report peak memory.

    python benchmarks/bench_backed.py                  # 1M cells, density 0.06 (a ~10 GB file)
    python benchmarks/bench_backed.py --cells 200000   # a quicker look

The file is written chunk by chunk (anndata's on-disk sparse append), with random 384-d gene
embeddings in varm, into --workdir (removed afterwards unless --keep). Then the user's command runs
in a child process, `textcell embed-cells big.h5ad --backed -o out.h5ad` with GenePT-w's arithmetic
(`--no-hvg --no-idf --no-center --no-whiten --no-scale`), which streams the cells into a copy of
the file; its peak resident memory (ru_maxrss) and wall time are reported, and a sample of its
vectors is checked against the in-memory path. Writes benchmarks/results/backed.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
from bench_cells import synthetic_counts

from textcell._io import atomic_write

RESULTS = Path(__file__).resolve().parent / "results"
CHUNK = 50_000
# The command line, then its own peak RSS. VmHWM, not ru_maxrss: a forked child's ru_maxrss keeps
# the peak of the (large) parent it was forked from.
PEAK_REPORTING_CLI = (
    "import sys; from textcell.cli import main; rc = main(sys.argv[1:]); "
    "print([line for line in open('/proc/self/status') if line.startswith('VmHWM')][0]); sys.exit(rc)"
)


def write_big_h5ad(path: Path, n_cells: int, n_genes: int, density: float, dim: int) -> int:
    """A backed-readable h5ad written without ever holding the matrix; returns its nnz."""
    var = pd.DataFrame({"textcell_has_embedding": True}, index=[f"G{i}" for i in range(n_genes)])
    embeddings = np.random.default_rng(1).standard_normal((n_genes, dim)).astype(np.float32)
    skeleton = ad.AnnData(
        obs=pd.DataFrame(index=[f"c{i}" for i in range(n_cells)]), var=var, varm={"textcell": embeddings}
    )
    skeleton.write_h5ad(path)
    with h5py.File(path, "r+") as store:
        group = store.create_group("X")
        group.attrs.update(
            {"encoding-type": "csr_matrix", "encoding-version": "0.1.0", "shape": (n_cells, n_genes)}
        )
        arrays = {
            name: group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(2**20,))
            for name, dtype in (("data", "float32"), ("indices", "int32"))
        }
        indptr = [np.zeros(1, dtype=np.int64)]
        for start in range(0, n_cells, CHUNK):
            block = synthetic_counts(min(CHUNK, n_cells - start), n_genes, density, seed=start)
            offset = indptr[-1][-1]
            for name, values in (("data", block.data), ("indices", block.indices)):
                arrays[name].resize((offset + block.nnz,))
                arrays[name][offset:] = values
            indptr.append(block.indptr[1:] + offset)
            print(f"  wrote {start + block.shape[0]:,} cells", flush=True)
        group.create_dataset("indptr", data=np.concatenate(indptr))
        return int(offset + block.nnz)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--genes", type=int, default=20_000)
    parser.add_argument("--density", type=float, default=0.06)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the big files (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(dir=args.workdir, prefix="textcell-backed-"))
    source, output = workdir / "big.h5ad", workdir / "out.h5ad"
    try:
        start = time.perf_counter()
        nnz = write_big_h5ad(source, args.cells, args.genes, args.density, args.dim)
        made = time.perf_counter() - start
        print(f"generated {source} ({source.stat().st_size / 1e9:.1f} GB, nnz {nnz:,}) in {made:.0f} s")

        # GenePT-w's arithmetic (no idf pass, no centring), as measured before those became defaults
        plain = ["--no-hvg", "--no-idf", "--no-center", "--no-whiten", "--no-scale"]  # GenePT's arithmetic
        arguments = ["embed-cells", str(source), "--backed", *plain, "-o", str(output)]
        start = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-c", PEAK_REPORTING_CLI, *arguments],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        seconds = time.perf_counter() - start
        print(child.stdout)
        peak_rss = int(child.stdout.rsplit("VmHWM:", 1)[1].split()[0]) * 1024

        with h5py.File(output) as store:
            streamed = store["obsm"]["X_textcell"][:2000]
        sample = ad.read_h5ad(source, backed="r")[:2000].to_memory()
        from textcell.tl import embed_cells

        embed_cells(sample, highly_variable=False, idf=False, center=False, whiten=False, scale=False)
        difference = float(np.abs(sample.obsm["X_textcell"] - streamed).max())
    finally:
        if not args.keep:
            shutil.rmtree(workdir)

    results = {
        "cells": args.cells,
        "genes": args.genes,
        "density": args.density,
        "dim": args.dim,
        "nnz": nnz,
        "generate_s": made,
        "embed_s": seconds,
        "cells_per_s": args.cells / seconds,
        "peak_rss_gb": peak_rss / 1e9,
        "max_abs_difference_vs_in_memory": difference,
    }
    RESULTS.mkdir(exist_ok=True)
    with atomic_write(RESULTS / "backed.json", "w") as handle:
        json.dump(results, handle, indent=2)
    table = (
        f"`textcell embed-cells --backed` on {args.cells:,} cells × {args.genes:,} genes "
        f"(density {args.density}, nnz {nnz:,}, d = {args.dim}): {seconds:.0f} s "
        f"({results['cells_per_s']:,.0f} cells/s, including the file copy), peak RSS "
        f"{results['peak_rss_gb']:.2f} GB; first 2,000 cells vs in memory: max |Δ| {difference:.1e}"
    )
    with atomic_write(RESULTS / "backed.md", "w") as handle:
        handle.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
