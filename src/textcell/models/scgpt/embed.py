"""Streaming inference: rows of an expression matrix → scGPT cell embeddings, in bounded memory.

Rows are read in chunks (dense, sparse, backed or Dask), tokenized (:mod:`.tokenize`), sorted by
length within the chunk and cut into batches of at most ``batch_size`` cells and ``max_tokens``
tokens. On the CPU a batch is packed, not padded: its cells' tokens lie end to end, the dense
layers run on them all at once and attention runs on each cell alone, so no compute goes to
padding (:meth:`~textcell.models.scgpt.model.ScGPTModel.packed_cell_embeddings`); on a GPU the
batch (cells of similar lengths) is padded and masked, one kernel for all. Only the chunk's tokens
and one batch's activations are alive at a time, whatever the number of cells.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..._progress import progress_bar
from ...errors import InputError
from .tokenize import Recipe, tokenize_rows

DTYPES = ("float32", "bfloat16")


@dataclass(frozen=True)
class Batching:
    batch_size: int = 64
    max_tokens: int = 32_768
    chunk_size: int = 2_048

    def __post_init__(self):
        for name in ("batch_size", "max_tokens", "chunk_size"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, not {getattr(self, name)}.")


def length_batches(lengths: np.ndarray, batching: Batching) -> Iterator[np.ndarray]:
    """Positions of cells, sorted by length, cut into batches of at most ``batch_size`` cells and
    ``max_tokens`` tokens (a cell longer than ``max_tokens`` gets a batch of its own)."""
    order = np.argsort(lengths, kind="stable")
    start = 0
    while start < len(order):
        stop, tokens = start + 1, lengths[order[start]]
        while (
            stop < len(order)
            and stop - start < batching.batch_size
            and tokens + lengths[order[stop]] <= batching.max_tokens
        ):
            tokens += lengths[order[stop]]
            stop += 1
        yield order[start:stop]
        start = stop


def pad_batch(cells: list[tuple[np.ndarray, np.ndarray]], pad_id: int, pad_value: float):
    """Arrays ``genes (batch, length)``, ``values``, ``padding`` (True at padding)."""
    length = max(len(g) for g, _ in cells)
    genes = np.full((len(cells), length), pad_id, dtype=np.int64)
    values = np.full((len(cells), length), pad_value, dtype=np.float32)
    padding = np.ones((len(cells), length), dtype=bool)
    for i, (g, v) in enumerate(cells):
        genes[i, : len(g)], values[i, : len(v)], padding[i, : len(g)] = g, v, False
    return genes, values, padding


def embed_rows(
    scgpt,
    chunks: Iterator,
    gene_ids: np.ndarray,
    *,
    n_obs: int,
    recipe: Recipe,
    batching: Batching = Batching(),
    dtype: str = "float32",
    progress_desc: str = "scGPT cells",
) -> tuple[np.ndarray, np.ndarray]:
    """The ``<cls>`` output of every cell (float32) and the number of tokens each cell used
    (``<cls>`` included).

    ``chunks`` yields ``(start, csr)`` row chunks whose columns are the vocabulary genes and
    ``gene_ids`` their vocabulary indices.
    """
    import torch

    if dtype not in DTYPES:
        raise InputError(f"Unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}.")
    model = scgpt.model
    device = next(model.parameters()).device
    torch_dtype = getattr(torch, dtype)
    out = np.zeros((n_obs, scgpt.config.d_model), dtype=np.float32)
    n_tokens = np.zeros(n_obs, dtype=np.int64)
    with progress_bar(total=n_obs, desc=progress_desc, unit="cell") as bar, torch.inference_mode():
        for start, csr in chunks:
            cells = tokenize_rows(csr, gene_ids, recipe, first_index=start)
            lengths = np.fromiter((len(g) for g, _ in cells), dtype=np.int64, count=len(cells))
            n_tokens[start : start + len(cells)] = lengths
            for batch in length_batches(lengths, batching):
                with _autocast(torch, device, torch_dtype):
                    cell = _forward(model, [cells[i] for i in batch], recipe, device)
                out[start + batch] = cell.float().cpu().numpy()
                bar.update(len(batch))
    return out, n_tokens


def _forward(model, cells: list[tuple[np.ndarray, np.ndarray]], recipe: Recipe, device):
    """``<cls>`` outputs of one batch: packed on the CPU (no compute on padding); padded on a GPU,
    where one masked kernel over similar lengths beats a kernel launch per cell."""
    import torch

    if device.type == "cpu":
        return model.packed_cell_embeddings(
            torch.from_numpy(np.concatenate([g for g, _ in cells])),
            torch.from_numpy(np.concatenate([v for _, v in cells])),
            [len(g) for g, _ in cells],
        )
    genes, values, padding = (
        torch.from_numpy(a).to(device) for a in pad_batch(cells, recipe.pad_id, recipe.pad_value)
    )
    return model.cell_embeddings(genes, values, padding)


def _autocast(torch, device, dtype):
    """bfloat16 matmuls (layer norms and softmax stay float32) where asked; a no-op for float32."""
    import contextlib

    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
