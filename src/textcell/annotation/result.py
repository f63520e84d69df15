"""The outcome of an annotation: one row per group, the tidy evidence behind it, the candidates."""

from __future__ import annotations

from dataclasses import dataclass, field

import anndata as ad
import numpy as np
import pandas as pd

from ..errors import InputError

STATUSES = ("verified", "weak", "unknown")


@dataclass
class AnnotationResult:
    """What :func:`textcell.tl.annotate` found.

    groups
        One row per group: ``group, n_cells, label, status, quality`` (0–100,
        :mod:`~textcell.annotation.quality`), ``cell_ontology, cell_ontology_label, chain`` (the
        verification path, root first, ``" > "``-joined), ``depth, basis`` (whose markers verified
        it: ``textcell``, ``consensus``, ``database`` or ``user``), ``supporting, contradicting,
        missing, alternatives``, ``refined_from`` (a sub-cluster's group, with subtype
        refinement), ``inherited`` (True where the label and status are that group's, verified on
        the whole group: the marker columns are then the sub-cluster's own, which may be weaker
        against its sibling sub-clusters), ``sources, top_genes``.
    evidence
        Tidy: one row per (group, checked cell type, canonical marker) with ``role``
        (``supporting``, ``missing`` or ``contradicting``), ``chosen`` (the group's label),
        ``chain_level`` (the type's place on the label's chain, root 0; -1 off it), ``basis``, and
        the marker's ``fraction``, ``mean``, ``reference_fraction``, ``log2fc`` in the group.
    candidates
        Every proposal: ``group, cell_type, source, score``.
    params
        Provenance: groupby, marker resource, thresholds, sources, models, versions.
    text_scores
        The text similarity of every group to every described cell type (``group, cell_type,
        source, score``; the best three per group are the text candidates), when text was used.
    """

    groups: pd.DataFrame
    evidence: pd.DataFrame
    candidates: pd.DataFrame
    params: dict = field(default_factory=dict)
    text_scores: pd.DataFrame | None = None

    def labels(self, groups) -> pd.DataFrame:
        """Per cell (given each cell's group): ``label`` and ``status`` as categoricals."""
        table = self.groups.set_index("group")
        keys = pd.Series(np.asarray(groups, dtype=str))
        label = keys.map(table["label"])
        status = pd.Categorical(keys.map(table["status"]), categories=STATUSES)
        return pd.DataFrame({"label": pd.Categorical(label), "status": status})

    def to_adata(self, adata: ad.AnnData, *, key_added: str | None = None) -> None:
        """Write into ``adata``: ``obs[key]`` (label), ``obs[key + '_status']`` and ``uns[key]``
        (``params``, ``groups``, ``evidence``, ``candidates``; all h5ad-serialisable)."""
        key = key_added or self.params.get("key_added", "textcell_annotation")
        groupby = self.params["groupby"]
        if groupby not in adata.obs:
            raise InputError(f"obs[{groupby!r}] (the groups annotated) is not in this AnnData.")
        per_cell = self.labels(adata.obs[groupby]).set_index(adata.obs_names)
        adata.obs[key] = per_cell["label"]
        adata.obs[f"{key}_status"] = per_cell["status"]
        adata.uns[key] = {
            "params": {**self.params, "key_added": key},
            "groups": _plain(self.groups),
            "evidence": _plain(self.evidence),
            "candidates": _plain(self.candidates),
            **({"text_scores": _plain(self.text_scores)} if self.text_scores is not None else {}),
        }

    @classmethod
    def from_adata(cls, adata: ad.AnnData, key: str = "textcell_annotation") -> AnnotationResult:
        """The result stored by :func:`textcell.tl.annotate` (or :meth:`to_adata`) under ``key``."""
        if key not in adata.uns or "groups" not in adata.uns[key]:
            raise InputError(f"Did not find .uns[{key!r}]; run textcell.tl.annotate first.")
        stored = adata.uns[key]
        return cls(
            groups=pd.DataFrame(stored["groups"]),
            evidence=pd.DataFrame(stored["evidence"]),
            candidates=pd.DataFrame(stored["candidates"]),
            params=dict(stored["params"]),
            text_scores=pd.DataFrame(stored["text_scores"]) if "text_scores" in stored else None,
        )

    def counts(self) -> dict[str, int]:
        """Groups per status."""
        return {s: int((self.groups["status"] == s).sum()) for s in STATUSES}

    def dotplot(self, **kwargs):
        """The evidence dot plot (see :func:`textcell.pl.evidence_dotplot`)."""
        from ..pl import evidence_dotplot

        return evidence_dotplot(self, **kwargs)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy h5ad can store: string index, object columns as str."""
    frame = frame.reset_index(drop=True)
    frame.index = frame.index.astype(str)
    return frame.astype({c: str for c in frame.columns if frame[c].dtype == object})
