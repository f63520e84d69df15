"""What decides a speed measurement: the CPU and its vector instructions, the cores a process may
use, the load when it started, and the threads of every runtime loaded in the process.

Speed benchmarks record :func:`describe` once per run and :func:`threads` in every worker process
(each worker loads its own runtimes), so that a re-run on another day can be compared line by line.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

#: The CPU flags that change which kernels torch, OpenVINO, numba and BLAS run.
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu() -> dict:
    """Model name, the kernel-relevant flags it has, cores seen and cores this process may use."""
    model, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:  # not Linux
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "model": model or platform.processor() or platform.machine(),
        "flags": [flag for flag in KERNEL_FLAGS if flag in flags],
        "cores_seen": os.cpu_count(),
        "cores_usable": usable,
    }


def threads() -> dict[str, int | str]:
    """Threads of the runtimes already loaded in this process (nothing is imported for it): torch's
    intra-op pool, numba's pool and threading layer, every BLAS and OpenMP library (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    out: dict[str, int | str] = {}
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].get_num_threads()
    if "numba" in sys.modules:
        numba = sys.modules["numba"]
        out["numba"] = numba.get_num_threads()
        try:
            out["numba layer"] = numba.threading_layer()
        except ValueError:  # no parallel function has run yet
            out["numba layer"] = "not started"
    libraries = {
        f"{library['internal_api']} ({Path(library['filepath']).name})": library["num_threads"]
        for library in threadpool_info()
    }
    return {**out, **dict(sorted(libraries.items()))}


def describe() -> dict:
    """The machine as a benchmark run starts: CPU, load average (1 min), Python, threads."""
    return {
        "cpu": cpu(),
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "threads": threads(),
    }


def summary_line(machine: dict) -> str:
    """One line for a report: ``AMD EPYC (avx2, …), 2 of 2 cores usable, load average 0.1 at the
    start, Python 3.11.7``."""
    cpu_ = machine["cpu"]
    flags = ", ".join(cpu_["flags"]) or "no AVX"
    load = machine.get("load_average")
    return (
        f"{cpu_['model']} ({flags}), {cpu_['cores_usable']} of {cpu_['cores_seen']} cores usable, "
        f"load average {load if load is not None else '?'} at the start, Python {machine['python']}"
    )
