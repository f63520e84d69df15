"""A mixture of stromal and immune cell types for the annotation tests, built from real statistics.

Six types, ``n`` cells each: smooth muscle cells, fibroblasts, pericytes, endothelial cells, mast
cells and neutrophils. Each cell is

- a *background*: real PBMC counts (Kang et al. 2018), every gene shuffled across cells on its own,
  with every lineage marker zeroed (those of textcell's table and PanglaoDB's lists for these six
  types): the library size and sparsity of real droplets without any cell identity;
- its *type's markers*: each of PanglaoDB's human markers of the type is detected with the
  probability PanglaoDB measured on real single cells (``sensitivity_human``, the fraction of the
  type's cells expressing it), and the markers of the other five types with the fraction of *other*
  types' cells that PanglaoDB found expressing them (``specificity_human``, despite its name);
- a detected marker's count is drawn from the real non-zero UMI counts of Kang's broadly expressed
  genes.

Neutrophils are the exception: PanglaoDB's neutrophil statistics describe granulocyte precursors
(AZU1, ELANE, MPO in every cell, CXCR2 in none), so their detection rates are those reported for
mature blood neutrophils (Xie et al. 2020, Nat Immunol 21:1119; Tabula Sapiens 2022) and written
here by hand: :data:`NEUTROPHIL_DETECTION`.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

TYPES = {
    "smc": "Smooth muscle cells",
    "fibroblast": "Fibroblasts",
    "pericyte": "Pericytes",
    "endothelial": "Endothelial cells",
    "mast": "Mast cells",
    "neutrophil": "Neutrophils",
}
NEUTROPHIL_DETECTION = {
    "FCGR3B": 0.9, "CXCR2": 0.8, "CSF3R": 0.85, "CMTM2": 0.6, "PROK2": 0.5, "CXCR1": 0.6,
    "S100A8": 0.95, "S100A9": 0.95, "G0S2": 0.7, "MNDA": 0.6, "SELL": 0.6, "FPR1": 0.6,
    "NAMPT": 0.7, "SOD2": 0.6, "IFITM2": 0.8, "MMP9": 0.3, "FCGR2A": 0.5,
}  # fmt: skip


def panglaodb_rates(path) -> pd.DataFrame:
    """PanglaoDB's human detection statistics of the six types' markers: ``cell_type, gene,
    sensitivity, specificity``."""
    raw = pd.read_csv(path, sep="\t", dtype=str)
    raw = raw[raw["species"].str.contains("Hs") & raw["cell.type"].isin(TYPES.values())]
    return pd.DataFrame(
        {
            "cell_type": raw["cell.type"].to_numpy(),
            "gene": raw["official.gene.symbol"].to_numpy(),
            "sensitivity": pd.to_numeric(raw["sensitivity_human"], errors="coerce").to_numpy(),
            "specificity": pd.to_numeric(raw["specificity_human"], errors="coerce").to_numpy(),
        }
    ).dropna()


def stromal_immune_mixture(kang: ad.AnnData, panglaodb_path, lineage_genes, *, n: int = 120, seed: int = 0):
    """The mixture as raw counts with ``obs["group"]`` (keys of :data:`TYPES`)."""
    rng = np.random.default_rng(seed)
    rates = panglaodb_rates(panglaodb_path)
    counts = sparse.csr_matrix(kang.X).toarray()
    detected = (counts > 0).mean(axis=0)
    pool = counts[:, detected >= 0.3]
    pool = pool[pool > 0]
    markers = sorted(set(rates["gene"]) | set(NEUTROPHIL_DETECTION))
    genes = list(dict.fromkeys([*kang.var_names, *markers]))
    column = {g: i for i, g in enumerate(genes)}
    silent = set(lineage_genes) | set(markers) | {"PTPRC"}
    blocks, groups = [], []
    for key, cell_type in TYPES.items():
        rows = rng.integers(0, counts.shape[0], size=(n, counts.shape[1]))
        background = np.zeros((n, len(genes)))
        background[:, : counts.shape[1]] = counts[rows, np.arange(counts.shape[1])]
        background[:, [column[g] for g in genes if g in silent]] = 0
        probability = _detection(rates, cell_type)
        for gene, p in probability.items():
            on = rng.random(n) < p
            background[on, column[gene]] = rng.choice(pool, size=int(on.sum()))
        blocks.append(background)
        groups += [key] * n
    x = sparse.csr_matrix(np.vstack(blocks).astype(np.float32))
    obs = pd.DataFrame({"group": pd.Categorical(groups)}, index=[f"cell-{i}" for i in range(len(groups))])
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=genes))


def _detection(rates: pd.DataFrame, cell_type: str) -> dict[str, float]:
    """Per marker gene, the probability a cell of ``cell_type`` expresses it."""
    own = rates[rates["cell_type"] == cell_type].groupby("gene")["sensitivity"].max()
    others = rates[rates["cell_type"] != cell_type].groupby("gene")["specificity"].max()
    probability = others.to_dict()
    if cell_type == "Neutrophils":
        probability |= NEUTROPHIL_DETECTION
    else:
        probability |= own.to_dict()
    return probability
