"""scGPT's input recipe: cells → ``<cls>`` + (gene token, expression bin) pairs. numpy only.

What ``scgpt.tasks.embed_data`` does (scGPT 0.2.4, ``get_batch_cell_embeddings`` with its
``DataCollator``), step by step:

1. keep the genes found in the vocabulary; a cell's tokens are its non-zero genes, in the
   order of the columns;
2. bin the cell's non-zero values into ``n_bins - 1`` quantile bins of that cell (bins 1 …
   n_bins - 1; ``preprocess.binning``): a value sitting on several equal bin edges gets one of
   the bins it touches at random (``_digitize(side="both")``);
3. put ``<cls>`` first, with value ``pad_value``;
4. when the cell has more than ``max_length`` tokens, keep ``<cls>`` and a random
   ``max_length - 1`` of the others (after binning, so the bins are those of the whole cell).

Binning is per cell and by rank, so raw counts and their log-normalised values give the same
bins. The randomness (ties, sampling) comes from one generator per cell, seeded with
``(seed, cell index)``: a cell's tokens do not depend on the batch it is in, and scGPT's own
binning, run after ``numpy.random.seed([seed, index])``, draws exactly the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class Recipe:
    """How cells become tokens; one per checkpoint and call (provenance writes it out)."""

    cls_id: int
    pad_id: int
    pad_value: float
    n_bins: int
    max_length: int
    seed: int = 0

    def to_dict(self) -> dict:
        return {
            "n_bins": self.n_bins,
            "max_length": self.max_length,
            "seed": self.seed,
            "cls_value": self.pad_value,
            "steps": "non-zero vocabulary genes in column order; per-cell quantile bins with random "
            "ties (scGPT binning); <cls> first; random subset of max_length - 1 genes beyond",
        }


def digitize_both(x: np.ndarray, edges: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """scGPT's ``_digitize(side="both")``: a uniformly random bin among those a value's position
    between equal edges allows (``np.digitize`` from the left and from the right)."""
    left = np.digitize(x, edges)
    right = np.digitize(x, edges, right=True)
    return np.ceil(rng.rand(len(x)) * (right - left) + left).astype(np.int64)


def bin_values(values: np.ndarray, n_bins: int, rng: np.random.RandomState) -> np.ndarray:
    """The bins (1 … n_bins - 1) of one cell's positive values (scGPT's ``binning``)."""
    edges = np.quantile(values, np.linspace(0, 1, n_bins - 1))
    return digitize_both(values, edges, rng)


def cell_rng(seed: int, index: int) -> np.random.RandomState:
    return np.random.RandomState([seed, index])


def tokenize_rows(
    rows: sparse.csr_matrix, gene_ids: np.ndarray, recipe: Recipe, *, first_index: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(genes, values) per cell of a CSR chunk whose columns are already the vocabulary genes.

    ``gene_ids``: the vocabulary index of each column. ``first_index``: index of the chunk's first
    cell in the whole dataset (it seeds the per-cell generators). Genes are int64, values float32.
    """
    rows = rows.tocsr()
    rows.sort_indices()
    out = []
    for i in range(rows.shape[0]):
        lo, hi = rows.indptr[i], rows.indptr[i + 1]
        data = np.asarray(rows.data[lo:hi], dtype=np.float32)  # scGPT bins float32 tensors
        keep = data != 0
        columns, data = rows.indices[lo:hi][keep], data[keep]
        if np.any(data < 0):
            raise ValueError("negative expression value")
        n = len(data) + 1
        genes = np.empty(n, dtype=np.int64)
        values = np.empty(n, dtype=np.float32)
        genes[0], values[0] = recipe.cls_id, recipe.pad_value
        genes[1:] = gene_ids[columns]
        if len(data):
            rng = cell_rng(recipe.seed, first_index + i)
            values[1:] = bin_values(data, recipe.n_bins, rng)
            if n > recipe.max_length:
                keep = np.concatenate([[0], 1 + rng.permutation(n - 1)[: recipe.max_length - 1]])
                genes, values = genes[keep], values[keep]
        out.append((genes, values))
    return out
