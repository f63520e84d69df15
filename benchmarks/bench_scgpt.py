"""scGPT on the CPU: scGPT's own code against textcell's, side by side in one run.

    python benchmarks/bench_scgpt.py                      # 64 Kang cells, memory on 20,000 genes
    python benchmarks/bench_scgpt.py --cells 128 --memory-cells 27 64

Needs the reference venv (``bash scripts/setup_scgpt_reference.sh``). One random-weight checkpoint
in the whole-human configuration (51.9 M parameters, the census vocabulary; built once by the
reference into benchmarks/results/scgpt-whole-human/) serves every run.

Speed: the same ``--cells`` real cells (Kang PBMC, a random sample, seed 0) are embedded
(1) by the reference: scGPT 0.2.4's ``TransformerModel`` and ``DataCollator`` run as
``embed_data`` runs them (batches of 64 cells padded to their longest, nn.TransformerEncoder,
flash-attn absent as on any CPU), and (2) by ``textcell.tl.scgpt_embed`` in float32 and in
bfloat16, each in a child process of its own (its peak resident memory is its own). The tokens are
the same in all three (scGPT's gene matching by name, the same seeds); the report gives cells/s,
peak memory, the achieved GFLOP/s (the FLOPs of the cells' real tokens over the wall time: padding
the reference computes is not counted as useful work), textcell float32's largest difference from
the reference and bfloat16's from float32.

Memory: a generated counts matrix of 10,000 cells × 20,000 vocabulary genes (negative-binomial,
density 0.1: ~2,000 detected genes per cell, so every cell is cut to 1,200 tokens) is held in
memory as a CSR matrix, and the first N cells of it (``--memory-cells``, several values) are
embedded in float32 in a child process: a peak that does not grow with N shows the streaming bound.

Timings on a shared machine move with its load: compare only the numbers of one run. Writes
benchmarks/results/scgpt.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anndata as ad
import numpy as np

from textcell._io import atomic_write
from textcell.bench.machine import describe

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
REFERENCE = REPO / "tests" / "scgpt_reference.py"
KANG = "kang2018_pbmc.h5ad"


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def peak_rss() -> int:
    """This process's peak resident memory in bytes since it started or :func:`reset_peak` (VmHWM)."""
    return _status("VmHWM")


def reset_peak() -> None:
    """Start the peak anew from the current resident memory (Linux: ``clear_refs`` 5)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reference_python() -> Path:
    venv = Path(os.environ.get("TEXTCELL_SCGPT_VENV", REPO / ".venv-scgpt"))
    if not (venv / "bin" / "python").exists():
        sys.exit("No scGPT reference venv: run bash scripts/setup_scgpt_reference.sh first.")
    return venv / "bin" / "python"


def checkpoint(python: Path) -> Path:
    folder = RESULTS / "scgpt-whole-human"
    if not (folder / "Wqkv" / "best_model.pt").is_file():
        subprocess.run(
            [str(python), str(REFERENCE), "build", "--out", str(folder), "--namings", "Wqkv"], check=True
        )
    return folder / "Wqkv"


# ------------------------------------------------------------------------------- workers


def worker_embed(args) -> None:
    """textcell in this process: embed the cells, save the vectors, print timing and peak memory."""
    import textcell
    from textcell.models.scgpt import load_checkpoint

    textcell.settings.progress = False
    scgpt = load_checkpoint(args.checkpoint)
    adata = ad.read_h5ad(args.h5ad)
    if args.first:
        adata = adata[: args.first].copy()
    start, cpu = time.perf_counter(), cpu_seconds()
    textcell.tl.scgpt_embed(adata, checkpoint=scgpt, match="exact", dtype=args.dtype, threads=args.threads)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    np.save(args.out, adata.obsm["X_scgpt"])
    tokens = adata.obs["X_scgpt_n_tokens"].to_numpy()
    print(
        json.dumps(
            {"seconds": seconds, "cpu_seconds": cpu, "peak_rss": peak_rss(), "tokens": tokens.tolist()}
        )
    )


def worker_memory(args) -> None:
    """The generated 10,000 × 20,000 counts in memory; the first ``args.first`` cells embedded."""
    sys.path.insert(0, str(HERE))
    from bench_cells import synthetic_counts

    import textcell
    from textcell.models.scgpt import load_checkpoint

    textcell.settings.progress = False
    scgpt = load_checkpoint(args.checkpoint)
    genes = [g for g in scgpt.vocab.genes if not g.startswith("ENSG")][: args.genes]
    counts = synthetic_counts(args.memory_total, len(genes), 0.1, seed=0)
    adata = ad.AnnData(counts)
    adata.var_names = genes
    data_bytes = counts.data.nbytes + counts.indices.nbytes + counts.indptr.nbytes
    import gc

    gc.collect()
    baseline = _status("VmRSS")
    reset_peak()  # the peak of generating the matrix is not the embedding's
    start = time.perf_counter()
    part = adata[: args.first].copy()
    textcell.tl.scgpt_embed(part, checkpoint=scgpt, match="exact", threads=args.threads)
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - start,
                "peak_rss": peak_rss(),
                "rss_before_embedding": baseline,
                "matrix_bytes": data_bytes,
                "n_genes": len(genes),
                "mean_genes_per_cell": float(np.diff(counts.indptr).mean()),
                "tokens": part.obs["X_scgpt_n_tokens"].tolist(),
            }
        )
    )


def run_worker(kind: str, **options) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind]
    for key, value in options.items():
        if value is not None:
            command += [f"--{key.replace('_', '-')}", str(value)]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- the bench


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=64, help="Kang cells for the speed comparison")
    parser.add_argument("--memory-cells", type=int, nargs="+", default=[27, 81], help="cells embedded")
    parser.add_argument("--memory-total", type=int, default=10_000, help="cells of the generated matrix")
    parser.add_argument("--genes", type=int, default=20_000, help="genes of the generated matrix")
    parser.add_argument("--threads", type=int, help="torch threads everywhere (default: torch's)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--worker", choices=("embed", "memory"), help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--h5ad", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "embed":
        worker_embed(args)
        return 0
    if args.worker == "memory":
        worker_memory(args)
        return 0

    from textcell.datasets import shared_data_dir

    shared = shared_data_dir()
    if shared is None:
        sys.exit("../shared/data not found (set TEXTCELL_SHARED_DATA).")
    python = reference_python()
    folder = checkpoint(python)
    previous = RESULTS / "scgpt.json"
    results: dict = json.loads(previous.read_text()) if previous.is_file() else {}
    results.update(
        machine=describe(),
        threads=args.threads,
        config="whole-human (d_model 512, 8 heads, d_hid 512, 12 layers; 51.9 M parameters), random weights",
    )
    if not args.skip_speed:
        results["speed"] = speed_comparison(args, python, folder, shared)
    if not args.skip_memory:
        results["memory"] = memory_runs(args, folder)
    results["load_average_at_end"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    with atomic_write(RESULTS / "scgpt.json", "w") as handle:
        json.dump(results, handle, indent=2)
    report = markdown(results)
    with atomic_write(RESULTS / "scgpt.md", "w") as handle:
        handle.write(report)
    print(report)
    return 0


def speed_comparison(args, python: Path, folder: Path, shared: Path) -> dict:
    """The reference, textcell float32 and textcell bfloat16 on the same Kang cells."""
    from textcell.models.scgpt import ScGPTConfig

    config = ScGPTConfig.whole_human()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        kang = ad.read_h5ad(shared / "cells" / KANG)
        rows = np.sort(np.random.default_rng(0).choice(kang.n_obs, args.cells, replace=False))
        cells = kang[rows].copy()
        cells.write_h5ad(tmp / "cells.h5ad")
        np.savez(
            tmp / "cells.npz",
            counts=cells.X.toarray().astype(np.float32),
            genes=np.array(cells.var_names, dtype=str),
        )
        runs = {}
        print(f"reference: scGPT 0.2.4 on {args.cells} Kang cells ...", flush=True)
        command = [str(python), str(REFERENCE), "run", "--checkpoint", str(folder)]
        command += ["--cells", str(tmp / "cells.npz"), "--out", str(tmp / "ref.npz"), "--outputs", "embed"]
        if args.threads:
            command += ["--threads", str(args.threads)]
        subprocess.run(command, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        with np.load(tmp / "ref.npz") as saved:
            reference = {k: saved[k] for k in saved.files}
        lengths = (~reference["padding"]).sum(axis=1)
        runs["reference"] = {
            "seconds": float(reference["total_seconds"]),
            "cpu_seconds": float(reference["cpu_seconds"]),
            "peak_rss": int(reference["peak_rss_bytes"]),
            "padded_tokens": int(
                sum(len(lengths[i : i + 64]) * lengths[i : i + 64].max() for i in range(0, len(lengths), 64))
            ),
        }
        vectors = {}
        for dtype in ("float32", "bfloat16"):
            print(f"textcell {dtype} ...", flush=True)
            out = tmp / f"{dtype}.npy"
            runs[f"textcell {dtype}"] = run_worker(
                "embed",
                checkpoint=folder,
                h5ad=tmp / "cells.h5ad",
                dtype=dtype,
                out=out,
                threads=args.threads,
            )
            if runs[f"textcell {dtype}"].pop("tokens") != lengths.tolist():
                raise SystemExit(f"textcell {dtype} used other tokens than the reference")
            vectors[dtype] = np.load(out)
        flops = config.encoder_flops(lengths.tolist())
        for run in runs.values():
            run["cells_per_second"] = args.cells / run["seconds"]
            run["gflops_per_second"] = flops / run["seconds"] / 1e9
        return {
            "cells": args.cells,
            "mean_tokens": float(lengths.mean()),
            "max_tokens": int(lengths.max()),
            "gflop": flops / 1e9,
            "runs": runs,
            "speedup_float32": runs["reference"]["seconds"] / runs["textcell float32"]["seconds"],
            "speedup_bfloat16": runs["reference"]["seconds"] / runs["textcell bfloat16"]["seconds"],
            "max_abs_difference_float32_vs_reference": float(
                np.abs(vectors["float32"] - reference["embedding"]).max()
            ),
            "max_abs_difference_bfloat16_vs_float32": float(
                np.abs(vectors["bfloat16"] - vectors["float32"]).max()
            ),
            "min_cosine_bfloat16_vs_float32": float(
                np.sum(vectors["bfloat16"] * vectors["float32"], axis=1).min()
            ),
        }


def memory_runs(args, folder: Path) -> list[dict]:
    """Peak memory embedding the first cells of the generated 20,000-gene matrix."""
    memory = []
    for first in args.memory_cells:
        print(f"memory: first {first} of {args.memory_total:,} generated cells ...", flush=True)
        run = run_worker(
            "memory", checkpoint=folder, first=first, memory_total=args.memory_total,
            genes=args.genes, threads=args.threads,
        )  # fmt: skip
        run["tokens"] = {"mean": float(np.mean(run["tokens"])), "max": int(np.max(run["tokens"]))}
        memory.append({"cells": first, **run})
    return memory


def markdown(results: dict) -> str:
    lines = [f"# scGPT on the CPU ({results['config']})", ""]
    speed = results.get("speed")
    if speed:
        real = speed["mean_tokens"] * speed["cells"]
        load = results["machine"]["load_average"]
        lines += [
            f"{speed['cells']} Kang cells, {speed['mean_tokens']:.0f} tokens on average (max "
            f"{speed['max_tokens']}), {speed['gflop']:.0f} GFLOP of real tokens; load average {load:.1f} "
            "at the start.",
            "",
            "| run | seconds | CPU seconds | cells/s | GFLOP/s (real tokens) | peak memory |",
            "|---|---|---|---|---|---|",
        ]
        for name, run in speed["runs"].items():
            lines.append(
                f"| {name} | {run['seconds']:.1f} | {run.get('cpu_seconds', float('nan')):.1f} | "
                f"{run['cells_per_second']:.2f} | "
                f"{run['gflops_per_second']:.1f} | {run['peak_rss'] / 2**30:.2f} GiB |"
            )
        lines += [
            "",
            f"- textcell float32 is {speed['speedup_float32']:.2f}× the reference, bfloat16 "
            f"{speed['speedup_bfloat16']:.2f}×; the reference computed "
            f"{speed['runs']['reference']['padded_tokens']:,} padded tokens for {real:,.0f} real ones.",
            "- float32 vs the reference: max |difference| "
            f"{speed['max_abs_difference_float32_vs_reference']:.1e} (L2-normalised embeddings); "
            f"bfloat16 vs float32: max |difference| {speed['max_abs_difference_bfloat16_vs_float32']:.1e}, "
            f"min cosine {speed['min_cosine_bfloat16_vs_float32']:.5f}.",
        ]
    for run in results.get("memory", []):
        lines.append(
            f"- memory: first {run['cells']} of 10,000 generated cells × {run['n_genes']:,} genes "
            f"(~{run['mean_genes_per_cell']:.0f} detected per cell, {run['tokens']['mean']:.0f} tokens "
            f"each; the CSR matrix {run['matrix_bytes'] / 2**30:.2f} GiB): peak "
            f"{run['peak_rss'] / 2**30:.2f} GiB while embedding (resident before: "
            f"{run['rss_before_embedding'] / 2**30:.2f} GiB, the model and the matrix), "
            f"{run['seconds']:.0f} s."
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
