"""What speed benchmarks record about the machine, and how they summarise repeated runs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from textcell import _kernels
from textcell.bench import machine
from textcell.bench.stats import format_median_range, median_range


def test_median_range_of_repeated_runs():
    summary = median_range([40.0, 50.0, 45.0])
    assert summary == {"median": 45.0, "min": 40.0, "max": 50.0, "spread": pytest.approx(10 / 45), "n": 3}
    assert format_median_range(summary, 1) == "45.0 [40.0–50.0]"
    assert format_median_range(median_range([2.5]), 1) == "2.5"
    with pytest.raises(ValueError, match="finite"):
        median_range([1.0, float("nan")])


def test_the_machine_record_names_the_cpu_cores_and_threads_of_loaded_runtimes():
    counts = sparse.random(100, 300, density=0.1, format="csr", dtype=np.float32, random_state=0)
    _kernels.log_normalized(counts.indptr, counts.data, 1e4, out=np.empty_like(counts.data))
    record = machine.describe()
    cpu = record["cpu"]
    assert cpu["model"]
    assert set(cpu["flags"]) <= set(machine.KERNEL_FLAGS)
    assert 1 <= cpu["cores_usable"] <= cpu["cores_seen"]
    threads = record["threads"]
    assert 1 <= threads["numba"] <= cpu["cores_seen"]
    assert threads["numba layer"] in ("omp", "tbb", "workqueue")
    assert any(name.startswith(("openblas", "mkl", "blis")) for name in threads)  # numpy's BLAS
    line = machine.summary_line(record)
    assert cpu["model"] in line
    assert f"{cpu['cores_usable']} of {cpu['cores_seen']} cores" in line
