"""torch helpers shared by the models that train in torch (classifier, perturbation network)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .errors import InputError


def require_torch(extra: str = "local"):
    """The torch module, or an error that says how to install it: the optional dependency comes
    with the extra ``textcell[extra]``."""
    try:
        import torch
    except ImportError as exc:
        raise InputError(
            f"This model runs in torch, which is not installed: pip install 'textcell[{extra}]'."
        ) from exc
    return torch


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator:
    """torch, run on ``n`` intra-op threads inside the block; ``None`` (the default everywhere)
    leaves torch's setting alone.

    Changing the count is not free: ``torch.set_num_threads`` also fixes MKL's thread count, and
    setting it back does not restore MKL's default behaviour. After one round trip (1 thread,
    then 2) sentence-transformers inference in the same process ran more than four times slower
    on 2 cores, its attention kernels now nesting multi-threaded MKL calls in their parallel loop.
    """
    torch = require_torch()
    with one_openmp_level():
        if n is None:
            yield torch
            return
        before = torch.get_num_threads()
        torch.set_num_threads(max(1, int(n)))
        try:
            yield torch
        finally:
            torch.set_num_threads(before)


@contextlib.contextmanager
def one_openmp_level() -> Iterator[None]:
    """No nested OpenMP teams inside the block, in every OpenMP runtime loaded (threadpoolctl
    finds them).

    numba's OpenMP threading layer (textcell's cell kernels, scanpy's) allows nested parallel
    regions process-wide once it has run, and torch shares that runtime: MKL's GEMMs inside
    torch's own parallel loops (CPU flash attention's backward pass) then start teams of their
    own. On 2 cores, scGPT pretraining after a cell embedding ran 7.5 s per step instead of 0.2 s.
    """
    from threadpoolctl import ThreadpoolController

    runtimes = ThreadpoolController().select(internal_api="openmp").lib_controllers
    before = [runtime.dynlib.omp_get_max_active_levels() for runtime in runtimes]
    for runtime in runtimes:
        runtime.dynlib.omp_set_max_active_levels(1)
    try:
        yield
    finally:
        for runtime, levels in zip(runtimes, before, strict=True):
            runtime.dynlib.omp_set_max_active_levels(levels)
