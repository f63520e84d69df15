"""The annotation benchmark: :func:`textcell.tl.annotate` on clusters from scanpy's standard
pipeline, scored against each dataset's own cell-type labels.

**Clusters.** :func:`textcell.annotation.clusters.standard_clusters` (scanpy's standard
pipeline, Leiden at resolution 1, seed 0).

**Name map.** A dataset's labels name cell types at their own granularity. :data:`ACCEPTED`
lists, for each label, the vocabulary types (:mod:`textcell.annotation.celltypes`) that name the
same cells; a type's descendants are accepted with it (a "CD4+ T cells" label is right for
"T cells"), and so are its ancestors (a "T cells" label is right, if coarse, for "CD4 T cells").
Two entries are judgement calls and are marked as such: pbmc_3tech's three-class "Monocytes" is
its myeloid class (its dendritic cells carry it), and pbmc68k's FACS-sorted "CD19+ B" cells include
CD19+ plasmablasts.

The validation dataset (``kang2018_ctrl_vs_ifnb``) is where the thresholds and the bundled
canonical markers were checked while they were written; it is reported apart.

A cell counts as correctly labelled when its group's label (``verified`` or ``weak``) is accepted
for the cell's own label; ``unknown`` is never correct. A verified label is *wrong* when it is not
accepted for the majority label of its group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._defaults import DEFAULT_MODEL
from ..annotation.celltypes import CellTypes
from ..annotation.clusters import standard_clusters
from ..annotation.result import AnnotationResult
from .cells import DATASETS, VALIDATION, CellDataset

ACCEPTED = {
    # Kang et al. 2018 (muscat)
    "CD4 T cells": ["CD4+ T cells"],
    "CD8 T cells": ["CD8+ T cells"],
    "CD14+ Monocytes": ["Classical monocytes"],
    "FCGR3A+ Monocytes": ["Non-classical monocytes"],
    "B cells": ["B cells"],
    "NK cells": ["NK cells"],
    # pbmc_3tech (SAVERCAT)
    "T/NK cells": ["T cells", "NK cells"],
    "Monocytes": ["Monocytes", "Dendritic cells"],  # judgement call: the myeloid class
    # pbmc68k_reduced bulk_labels (FACS-sorted populations)
    "CD4+/CD25 T Reg": ["Regulatory T cells"],
    "CD4+/CD45RA+/CD25- Naive T": ["CD4+ T cells"],
    "CD4+/CD45RO+ Memory": ["CD4+ T cells"],
    "CD8+ Cytotoxic T": ["CD8+ T cells"],
    "CD8+/CD45RA+ Naive Cytotoxic": ["CD8+ T cells"],
    "CD14+ Monocyte": ["Classical monocytes"],
    "CD19+ B": ["B cells", "Plasma cells"],  # judgement call: the sort includes plasmablasts
    "CD56+ NK": ["NK cells"],
    "CD34+": ["Hematopoietic progenitor cells"],
    "Dendritic": ["Dendritic cells"],
}
TISSUE = ["Immune system", "Blood"]


def accepted(label: str, vocabulary: CellTypes) -> set[str]:
    """The vocabulary types that are a right answer for a dataset label."""
    names = set()
    for name in ACCEPTED.get(label, []):
        names |= {name, *vocabulary.ancestors(name), *vocabulary.descendants(name)}
    return names


def score(labels: pd.Series, status: pd.Series, truth: pd.Series, groups: pd.Series) -> dict:
    """Accuracy per cell and counts per group (see the module docstring)."""
    vocabulary = CellTypes.bundled()
    truth = truth.astype(str).to_numpy()
    labels, status, groups = (np.asarray(s.astype(str)) for s in (labels, status, groups))
    right = np.array([lab in accepted(t, vocabulary) for lab, t in zip(labels, truth, strict=True)])
    per_group = []
    for group in pd.unique(groups):
        inside = groups == group
        majority = pd.Series(truth[inside]).value_counts().index[0]
        label, state = labels[inside][0], status[inside][0]
        per_group.append(
            {
                "group": str(group),
                "n_cells": int(inside.sum()),
                "majority_label": majority,
                "label": label,
                "status": state,
                "right": bool(label in accepted(majority, vocabulary)),
            }
        )
    table = pd.DataFrame(per_group)
    assigned = status != "unknown"
    return {
        "accuracy": float(right.mean()),
        "accuracy_of_assigned": float(right[assigned].mean()) if assigned.any() else float("nan"),
        "cells_unknown": float((~assigned).mean()),
        "groups": {s: int((table["status"] == s).sum()) for s in ("verified", "weak", "unknown")},
        "wrong_verified": table[(table["status"] == "verified") & ~table["right"]].to_dict(orient="records"),
        "table": table.to_dict(orient="records"),
    }


def annotation_benchmark(
    datasets=(*DATASETS, "validation"),
    *,
    markers: str = "panglaodb",
    gene_model: str = DEFAULT_MODEL,
    figures=None,
) -> dict:
    """Cluster, embed genes (for the text source) and annotate each dataset; score it. With
    ``figures`` (a folder), write each dataset's UMAP by label and status and its evidence plot."""
    from ..pl import annotation_umap
    from ..tl import annotate, embed_genes
    from .report import save_figure

    results = {"markers": markers, "tissue": TISSUE, "gene_model": gene_model, "datasets": {}}
    key = "textcell_annotation"
    for name in datasets:
        dataset: CellDataset = VALIDATION if name == "validation" else DATASETS[name]
        adata = dataset.load()
        adata.obs_names_make_unique()
        adata.var_names_make_unique()
        standard_clusters(adata)
        embed_genes(adata, model=gene_model)
        annotate(adata, groupby="leiden", markers=markers, tissue=TISSUE, key_added=key)
        label, status = adata.obs[key], adata.obs[f"{key}_status"]
        result = AnnotationResult.from_adata(adata, key)
        results["datasets"][name] = {
            "label": dataset.label,
            "n_cells": int(adata.n_obs),
            "n_genes": int(adata.n_vars),
            "n_groups": int(adata.obs["leiden"].nunique()),
            **score(label, status, adata.obs[dataset.label], adata.obs["leiden"]),
            "evidence": result.groups[["group", "label", "status", "supporting", "contradicting"]].to_dict(
                orient="records"
            ),
        }
        if figures is not None:
            save_figure(
                annotation_umap(adata.obsm["X_umap"], label, status), figures, f"annotation_{name}_umap"
            )
            save_figure(result.dotplot(), figures, f"annotation_{name}_evidence")
    return results
