"""torch after numba: textcell's parallel cell kernels (numba, OpenMP layer) enable nested OpenMP
teams process-wide; every torch block of textcell runs with one active level again."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from threadpoolctl import ThreadpoolController

from textcell import _kernels
from textcell._torch import torch_threads

pytest.importorskip("torch")
numba = pytest.importorskip("numba")


def _openmp_levels() -> list[int]:
    runtimes = ThreadpoolController().select(internal_api="openmp").lib_controllers
    return [runtime.dynlib.omp_get_max_active_levels() for runtime in runtimes]


def test_torch_blocks_run_one_openmp_level_after_the_cell_kernels():
    counts = sparse.random(200, 500, density=0.1, format="csr", dtype=np.float32, random_state=0)
    counts.data = np.ceil(counts.data * 20)
    _kernels.log_normalized(counts.indptr, counts.data, 1e4, out=np.empty_like(counts.data))
    if numba.threading_layer() != "omp":
        pytest.skip(f"numba runs its {numba.threading_layer()!r} layer here, not OpenMP")
    outside = _openmp_levels()
    assert max(outside) > 1  # what numba's OpenMP layer leaves behind
    for threads in (None, 1):
        with torch_threads(threads):
            assert _openmp_levels() == [1] * len(outside)
        assert _openmp_levels() == outside
