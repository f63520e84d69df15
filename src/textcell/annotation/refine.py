"""Subtype refinement: a verified group whose type has subtypes is sub-clustered, and the subtypes
are tried on each sub-cluster with the same evidence rules.

A Leiden cluster often mixes subtypes (CD4 and CD8 T cells in one "T cell" cluster, classical and
non-classical monocytes in one "monocyte" cluster): no subtype's markers reach support in the
whole group, its label stays at the parent type, and per-cell accuracy can never exceed the
cluster's purity. CellTypist meets the same problem by over-clustering and voting within each
over-cluster; here:

1. every group whose label is ``verified`` and has subtypes in the vocabulary, with at least
   ``2 × min_cells`` cells, is sub-clustered: Leiden at ``resolution`` on the neighbour graph
   restricted to the group's cells, as ``scanpy.tl.leiden(restrict_to=...)`` does
   (:func:`~textcell.annotation.clusters.restricted_subclusters`); sub-clusters are named
   ``"<group>,<i>"``, as scanpy names them;
2. the marker statistics are computed afresh on the partition with the sub-clusters in place of
   their groups (:func:`~textcell.annotation.evidence.group_statistics`: each sub-cluster against
   every other group and sub-cluster), and each sub-cluster of at least ``min_cells`` cells is
   decided by :func:`~textcell.annotation.verify.decide` with its group's label as the only
   candidate: its ancestors and every subtype are checked, negative markers still block, and
   ancestors must still clear the way. A sub-cluster *refines* its group when it is verified as
   a subtype of the group's label;
3. a group none of whose sub-clusters refines it stays whole. Otherwise its refining sub-clusters
   become groups of their own and the rest of its cells stay together under the group's name;
   the statistics are computed once more on this final partition and each new group is decided
   again the same way;
4. a new group verified as its group's label or a subtype of it takes that label (with its own
   evidence); any other keeps its group's label and status (``refined_from`` names the group whose
   verification it inherits), unless its own markers contradict the label or one of its
   ancestors: then the label stands as ``weak``.

Groups that are not split keep their decision and evidence from the first pass unchanged.

**Chosen on the validation data** (``python benchmarks/validation_subtypes.py``; Kang et al.'s
IFN-β PBMCs, never a reported dataset): the whole data's graph restricted to the group (scanpy's
``restrict_to``) rather than a graph built on the group's own cells (its own highly variable genes
and PCs), whose sub-clusters changed with the seed and, at resolution 1, verified a wrong
subtype; resolution 1 (scanpy's default; at 0.5 the restricted graph mostly left groups whole).
``MIN_CELLS`` was set in advance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..ontology.celltypes import CellTypes
from .clusters import restricted_subclusters
from .evidence import Thresholds, contradicting, group_statistics, supported
from .verify import Decision, decide

RESOLUTION = 1.0
MIN_CELLS = 20


@dataclass
class Refinement:
    """The refined partition and what was decided on it.

    groups
        One group per cell: the first pass's groups, refined ones replaced by their refining
        sub-clusters and the rest of their cells.
    decisions
        One per group of ``groups``, in its category order.
    stats
        The statistics behind each decision (new groups' rows from the final partition, other
        rows from the first pass).
    split
        The first pass's groups that were refined.
    """

    groups: pd.Categorical
    decisions: list[Decision]
    stats: dict[str, pd.DataFrame]
    split: list[str]


def refine_subtypes(
    decisions: list[Decision],
    groups: pd.Categorical,
    expression,
    measured,
    genes: pd.Index,
    stats: dict[str, pd.DataFrame],
    vocabulary: CellTypes,
    markers: pd.DataFrame,
    thresholds: Thresholds,
    graph,
    *,
    resolution: float | None = None,
    min_cells: int | None = None,
    seed: int = 0,
    trust_markers: bool = False,
    consensus: pd.DataFrame | None = None,
) -> Refinement:
    """Sub-cluster the verified groups whose type has subtypes and decide the sub-clusters (see
    the module docstring). ``expression``: cells × all genes, log-normalised CSR; ``measured``:
    its columns of the marker genes ``genes``; ``stats``: the first pass's statistics; ``graph``:
    the cells' neighbour graph (connectivities, CSR), or a function that returns it;
    ``resolution``, ``min_cells``: default :data:`RESOLUTION`, :data:`MIN_CELLS`."""
    resolution = RESOLUTION if resolution is None else resolution
    min_cells = MIN_CELLS if min_cells is None else min_cells
    first = np.asarray(groups.categories.astype(str))[np.asarray(groups.codes)]
    by_group = {d.group: d for d in decisions}
    options = dict(trust_markers=trust_markers, consensus=consensus)
    parent_of = {g: g for g in by_group}  # a group's first-pass group

    def partition(names: np.ndarray) -> tuple[list[str], pd.Categorical]:
        present = set(names)
        members = {g: [] for g in by_group}
        for name in sorted(present, key=lambda n: (n != parent_of[n], _suffix(n, parent_of[n]))):
            members[parent_of[name]].append(name)
        order = [n for g in groups.categories.astype(str) for n in members[g]]
        return order, pd.Categorical(names, categories=order)

    def judge(names: np.ndarray, new: list[str]) -> tuple[dict[str, Decision], dict[str, pd.DataFrame]]:
        """Decide the ``new`` groups of a partition: their decisions and the partition's stats."""
        _, categorical = partition(names)
        fresh = group_statistics(expression[:, measured], categorical, genes)
        support, against = supported(fresh, thresholds), contradicting(fresh, thresholds)
        out = {}
        for name in new:
            parent = by_group[parent_of[name]]
            decided = decide(name, [parent.label], support, vocabulary, markers, against=against, **options)
            tried = (names == name).sum() >= min_cells
            out[name] = _settle(decided, parent, tried=tried, vocabulary=vocabulary)
        return out, fresh

    names = first.astype(object)
    candidates = {}
    for decision in decisions:
        if decision.status != "verified" or decision.label not in vocabulary:
            continue
        cells = np.flatnonzero(first == decision.group)
        if not vocabulary.descendants(decision.label) or len(cells) < 2 * min_cells:
            continue
        graph = graph() if callable(graph) else graph  # built only when a group is to be split
        sub = restricted_subclusters(graph[cells][:, cells], resolution=resolution, seed=seed)
        if len(set(sub)) > 1:
            named = {s: f"{decision.group},{s}" for s in sorted(set(sub), key=int)}
            names[cells] = [named[s] for s in sub]
            candidates[decision.group] = list(named.values())
            parent_of |= {n: decision.group for n in named.values()}
    if candidates:
        decided, _ = judge(names.astype(str), [s for subs in candidates.values() for s in subs])
        refining = {
            s for s, d in decided.items() if not d.inherited and d.label != by_group[parent_of[s]].label
        }
        for group, subs in candidates.items():
            for sub in subs:
                if sub not in refining:  # back to the rest of its group (or the whole group)
                    names[names == sub] = group
    names = names.astype(str)
    split = [g for g, subs in candidates.items() if set(subs) & set(names)]
    order, refined = partition(names)
    if not split:
        return Refinement(refined, list(decisions), stats, [])
    new = [n for n in order if parent_of[n] in split]
    final, fresh = judge(names, new)
    out = [final.get(n) or by_group[n] for n in order]
    kept = [n for n in order if n not in final]
    combined = {k: pd.concat([stats[k].loc[kept], fresh[k].loc[new]]).loc[order] for k in stats}
    return Refinement(refined, out, combined, split)


def _settle(decided: Decision, parent: Decision, *, tried: bool, vocabulary: CellTypes) -> Decision:
    """A new group's decision: its own when verified as its group's label or a subtype of it (and
    large enough to be tried), else its group's label, inherited."""
    own = decided.label in vocabulary and vocabulary.is_a(decided.label, parent.label)
    if tried and decided.status == "verified" and own:
        return replace(decided, refined_from=parent.group)
    blocked = any(decided.checks[n].contradicting for n in parent.chain if n in decided.checks)
    return Decision(
        decided.group,
        parent.label,
        "weak" if blocked else parent.status,
        decided.checks,
        chain=list(parent.chain),
        refined_from=parent.group,
        inherited=True,
    )


def _suffix(name: str, group: str) -> int:
    """A sub-cluster's number (``"7,1"`` of ``"7"`` → 1); 0 for the group itself."""
    return int(name.removeprefix(f"{group},")) if name != group else 0
