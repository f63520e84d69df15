"""Everyday latency of the command line, side by side in one run, with where the time goes.

    python benchmarks/bench_cli.py [--repeats 5]     # writes benchmarks/results/cli.{json,md}

Rows: ``textcell --help`` and a subcommand's help, ``import textcell``, a damaged h5ad file (how
soon ``embed-cells`` refuses it), ``textcell bench cells --h5ad`` on 2,000 Kang PBMCs with the
shipped defaults, and ``textcell annotate`` on the same cells with no clusters yet (scanpy's
standard clustering first). Every command runs in a fresh process; the two long ones run with
``-v``, whose "... took N s" lines say where their time went. Goals (issue "a newcomer's first
hour"): help ≤ 1 s, import ≤ 1.5 s, a damaged file refused ≤ 10 s, bench cells ≤ 120 s, annotate
≤ 60 s. The load average at the start is recorded: timings from a busy machine are not timings.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anndata as ad
import numpy as np

from textcell._io import atomic_write
from textcell.bench.machine import describe, summary_line
from textcell.datasets import shared_file

RESULTS = Path(__file__).resolve().parent / "results"
GOALS = {
    "help": 1.0,
    "subcommand help": 1.0,
    "import": 1.5,
    "damaged file": 10.0,
    "bench cells": 120.0,
    "annotate": 60.0,
}
STEP = re.compile(r"^INFO: (.+) took ([0-9.]+) s$")


def timed_run(command: list[str], *, env: dict, expect: int = 0) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != expect:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return seconds, done.stderr


def steps(log: str) -> list[tuple[str, float]]:
    return [(m.group(1), float(m.group(2))) for line in log.splitlines() if (m := STEP.match(line))]


def kang_cells(folder: Path, n: int = 2000) -> Path:
    adata = ad.read_h5ad(shared_file("cells/kang2018_pbmc.h5ad"))
    keep = np.sort(np.random.default_rng(0).choice(adata.n_obs, n, replace=False))
    path = folder / "kang_2000.h5ad"
    adata[keep].copy().write_h5ad(path)
    return path


def damaged(source: Path, folder: Path) -> Path:
    """The file with its X indices overwritten in the middle (read as valid numbers)."""
    import h5py

    path = folder / "damaged.h5ad"
    path.write_bytes(source.read_bytes())
    with h5py.File(path, "r+") as store:
        indices = store["X/indices"]
        middle = len(indices) // 2
        indices[middle : middle + 512] = np.random.default_rng(0).integers(-(2**31), 2**31 - 1, 512)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of the short commands (median)")
    args = parser.parse_args()
    textcell = [sys.executable, "-m", "textcell"]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TEXTCELL_CACHE_DIR": str(folder / "cache")}
        machine = describe()
        cells = kang_cells(folder)
        short = {
            "help": [*textcell, "--help"],
            "subcommand help": [*textcell, "embed-cells", "--help"],
            "import": [sys.executable, "-c", "import textcell"],
        }
        for name, command in short.items():
            times = [timed_run(command, env=env)[0] for _ in range(args.repeats)]
            rows.append(
                {"what": name, "seconds": statistics.median(times), "spread": [min(times), max(times)]}
            )
        seconds, _ = timed_run(
            [*textcell, "-q", "embed-cells", str(damaged(cells, folder)), "-o", str(folder / "x.h5ad")],
            env=env,
            expect=2,
        )
        rows.append({"what": "damaged file", "seconds": seconds})
        long = {
            "bench cells": [*textcell, "-v", "-q", "bench", "cells", "--h5ad", str(cells),
                            "--label", "cell_type", "--batch", "donor", "-o", str(folder / "bench")],
            "annotate": [*textcell, "-v", "-q", "annotate", str(cells), "-o", str(folder / "annotated.h5ad")],
        }  # fmt: skip
        for name, command in long.items():
            seconds, log = timed_run(command, env=env)
            rows.append({"what": name, "seconds": seconds, "steps": steps(log)})
    for row in rows:
        row["goal"] = GOALS[row["what"]]
        row["met"] = row["seconds"] <= row["goal"]
    result = {
        "machine": machine,
        "cells": "2,000 Kang PBMCs (seed 0), all 2,511 genes",
        "rows": rows,
    }
    lines = [
        f"{summary_line(machine)}.",
        "",
        "| what | seconds | goal | met |",
        "|---|---|---|---|",
    ]
    for row in rows:
        spread = f" ({row['spread'][0]:.2f}–{row['spread'][1]:.2f})" if "spread" in row else ""
        lines.append(
            f"| {row['what']} | {row['seconds']:.2f}{spread} | ≤ {row['goal']:g} | "
            + ("yes |" if row["met"] else "no |")
        )
    for row in rows:
        if row.get("steps"):
            lines += ["", f"Where `{row['what']}` spends its time:", ""]
            accounted = sum(s for _, s in row["steps"])
            lines += [f"- {step}: {seconds:.1f} s" for step, seconds in row["steps"]]
            lines.append(
                f"- the rest (start-up, imports, numba compilation, printing): "
                f"{row['seconds'] - accounted:.1f} s"
            )
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    with atomic_write(RESULTS / "cli.json", "w") as handle:
        json.dump(result, handle, indent=2)
    with atomic_write(RESULTS / "cli.md", "w") as handle:
        handle.write(table + "\n")


if __name__ == "__main__":
    main()
