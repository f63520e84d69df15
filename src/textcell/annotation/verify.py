"""Verification: a label stands only when the group expresses the label's canonical markers.

For each candidate type, its canonical positive markers that the data measures are checked against
:func:`~textcell.annotation.evidence.supported`:

- ``verified``: at least two measured, at least half of them (``min_share``) supported, no
  negative marker contradicting (:func:`~textcell.annotation.evidence.contradicting`: expressed,
  and not merely as ambient RNA), and every ancestor of the type (its verification parents, up to a
  root of textcell's table) verified as well — or, when the data measures fewer than two of an
  ancestor's markers (a panel, a random gene subset), not contradicted;
- ``weak``: at least one supported positive and no contradicting negative, but short of the above;
- ``unsupported``: otherwise.

Canonical markers are textcell's (:mod:`~textcell.ontology.celltypes`) for the types its table
knows. A type the table does not know is checked, when asked (``consensus``), with the markers the
marker databases agree on for its Cell Ontology term (genes listed for the term by several of
PanglaoDB, CellMarker 2.0 and ScType: :func:`textcell.ontology.databases.consensus_markers`,
where the measurement that keeps this off by default is described), and can be verified with
them; otherwise it is checked with its own markers from the marker table, and can be ``weak`` at
best when that table is a marker database (whose lists mix canonical
markers with genes merely detected in the type), while a table the user wrote counts as canonical.

**Down the hierarchy.** Every candidate brings its ancestors and all its descendants in the
table, so the subtypes of a verified type are always tried. A group's label is the deepest
verified type, and the path from the root (T cell → CD4-positive T cell → regulatory T cell) is
the label's ``chain``:

1. the verified lineages are found by their roots in textcell's table; a root that the Cell
   Ontology places above another verified root gives way to it (epithelial cell → pancreatic
   ductal cell), unless its share of its signature leads by ``SEPARATION`` (a fibroblast showing
   all its markers does not become a leptomeningeal cell on two of them);
2. with a tissue given, a root specific to that tissue outranks roots that live in any tissue
   (pancreatic stellate cells over pericytes in a pancreas);
3. one lineage left: the label walks down it, through each verified subtype; where several
   subtypes are verified, the one whose share of its signature (supported markers over all its
   markers, measured or not) leads the next by at least ``SEPARATION`` is followed, otherwise
   the label stays at their parent (``alternatives`` names them);
4. several unrelated lineages left: the one whose root's share of its signature leads the next
   by at least ``SEPARATION`` is followed (``contested``: the quality score says so); otherwise the
   group may be mixed (or the data too thin to tell them apart) and the label is the
   best-supported root as ``weak``.

Without a verified type the best ``weak`` candidate is kept as ``weak``; without one of those the
group is ``unknown`` and names its closest candidate.
Contradicting markers always block: a type with a supported negative marker is never verified.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from ..ontology.celltypes import CellTypes
from ..ontology.cl import CellOntology

MIN_MARKERS = 2
MIN_SHARE = 0.5
RESOURCE_MARKERS = 10
SEPARATION = 0.25


@dataclass
class Check:
    """The marker check of one candidate type in one group."""

    cell_type: str
    status: str
    measured: list[str]
    supporting: list[str]
    missing: list[str]
    contradicting: list[str]
    basis: str = "textcell"  # textcell, consensus, database or user
    negative: list[str] = field(default_factory=list)  # measured negative markers
    listed: int = 0  # positive markers the type has, measured or not

    @property
    def signature_share(self) -> float:
        """Supported markers over every marker the type has, measured or not: how much of its
        signature the group shows (a type the data barely measures cannot win on two genes)."""
        return len(self.supporting) / max(self.listed, len(self.measured), 1)

    @property
    def share(self) -> float:
        return len(self.supporting) / len(self.measured) if self.measured else 0.0

    @property
    def clears_the_way(self) -> bool:
        """As an ancestor, lets its subtypes be verified: verified, or not measurable in this data
        (fewer than ``MIN_MARKERS`` markers measured) and not contradicted."""
        return self.status == "verified" or (len(self.measured) < MIN_MARKERS and not self.contradicting)


@dataclass
class Decision:
    group: str
    label: str
    status: str
    checks: dict[str, Check] = field(default_factory=dict)
    alternatives: list[str] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)
    contested: bool = False  # other unrelated types verified too; the label won on evidence
    refined_from: str = ""  # a sub-cluster's group (:mod:`~textcell.annotation.refine`)
    inherited: bool = False  # the label is its group's: no subtype verified in the sub-cluster

    @property
    def evidence(self) -> Check | None:
        return self.checks.get(self.label)


def canonical_markers(
    cell_type: str,
    vocabulary: CellTypes,
    markers: pd.DataFrame,
    measured: pd.Index,
    consensus: pd.DataFrame | None = None,
) -> tuple[list[str], list[str], str]:
    """Positive and negative canonical markers of a type, restricted to measured genes, and their
    basis: the vocabulary's for a type it knows (negatives include its ancestors': a subtype must
    not express what its parent must not); else the databases' consensus markers of its CL term;
    else the marker table's (canonical rows first, by weight)."""
    if cell_type in vocabulary:
        known = vocabulary.types[cell_type]
        positive = [g for g in known.positive if g in measured]
        inherited = [g for a in vocabulary.ancestors(cell_type) for g in vocabulary.types[a].negative]
        negative = list(dict.fromkeys(g for g in (*known.negative, *inherited) if g in measured))
        return positive, negative, "textcell"
    rows = markers[(markers["cell_type"] == cell_type) & markers["gene"].isin(measured)]
    if consensus is not None:
        term = rows["cell_ontology"].iloc[0] if len(rows) and "cell_ontology" in rows else ""
        term = term or CellOntology.bundled().find(cell_type) or ""
        agreed = consensus[(consensus["cell_ontology"] == term) & consensus["gene"].isin(measured)]
        if term and len(agreed) >= MIN_MARKERS:
            agreed = agreed.sort_values(["n_sources", "n_types", "gene"], ascending=[False, True, True])
            return (
                list(agreed["gene"][:RESOURCE_MARKERS]),
                list(rows.loc[rows["sign"] < 0, "gene"]),
                "consensus",
            )
    positive = rows[rows["sign"] > 0].sort_values(["canonical", "weight"], ascending=False)
    return list(positive["gene"][:RESOURCE_MARKERS]), list(rows.loc[rows["sign"] < 0, "gene"]), "database"


def check(
    group: str,
    cell_type: str,
    support: pd.DataFrame,
    vocabulary: CellTypes,
    markers: pd.DataFrame,
    *,
    trust_markers: bool = False,
    consensus: pd.DataFrame | None = None,
    against: pd.DataFrame | None = None,
) -> Check:
    """``against``: where negative markers contradict (default: where they are supported)."""
    positive, negative, basis = canonical_markers(cell_type, vocabulary, markers, support.columns, consensus)
    if basis == "database" and trust_markers:
        basis = "user"
    row = support.loc[group]
    blocking = (against if against is not None else support).loc[group]
    supporting = [g for g in positive if row[g]]
    contradicting = [g for g in negative if blocking[g]]
    missing = [g for g in positive if not row[g]]
    needed = max(MIN_MARKERS, math.ceil(MIN_SHARE * len(positive)))
    canonical = basis != "database"
    if canonical and len(positive) >= MIN_MARKERS and len(supporting) >= needed and not contradicting:
        status = "verified"
    elif supporting and not contradicting:
        status = "weak"
    else:
        status = "unsupported"
    listed = len(vocabulary.types[cell_type].positive) if cell_type in vocabulary else len(positive)
    return Check(cell_type, status, positive, supporting, missing, contradicting, basis, negative, listed)


def decide(
    group: str,
    candidates: list[str],
    support: pd.DataFrame,
    vocabulary: CellTypes,
    markers: pd.DataFrame,
    *,
    trust_markers: bool = False,
    consensus: pd.DataFrame | None = None,
    against: pd.DataFrame | None = None,
) -> Decision:
    """Check every candidate, its ancestors and its descendants in ``group``; choose the label.

    ``candidates`` are ordered best first (by the proposing sources); an unknown group names the
    one with the most supporting markers (the first of equals) as its closest match.
    ``trust_markers``: the marker table's lists are canonical (a table the user wrote), so types
    outside the vocabulary can be verified with them. ``consensus``: the marker databases' agreed
    markers per CL term (:func:`textcell.ontology.databases.consensus_markers`). ``against``:
    where negative markers contradict (:func:`~textcell.annotation.evidence.contradicting`;
    default: where they are supported).
    """
    lineage = lambda c: (c, *vocabulary.ancestors(c), *vocabulary.descendants(c))  # noqa: E731
    names = list(dict.fromkeys(n for c in candidates for n in lineage(c)))
    checks = {
        name: check(
            group,
            name,
            support,
            vocabulary,
            markers,
            trust_markers=trust_markers,
            consensus=consensus,
            against=against,
        )
        for name in names
    }
    verified = [
        n
        for n in names
        if checks[n].status == "verified" and all(checks[a].clears_the_way for a in vocabulary.ancestors(n))
    ]
    chain = lambda n: vocabulary.chain(n) if n in vocabulary else [n]  # noqa: E731
    roots = list(dict.fromkeys(next(a for a in chain(n) if a in verified) for n in verified))
    below = lambda r, o: o != r and vocabulary.is_a(o, r)  # noqa: E731
    leads = lambda r, o: checks[r].signature_share - checks[o].signature_share >= SEPARATION  # noqa: E731
    roots = [r for r in roots if not any(below(r, o) and not leads(r, o) for o in roots)]
    local = [r for r in roots if vocabulary.tissue and set(_tissues(vocabulary, r)) & vocabulary.tissue]
    if (
        local
        and len(local) < len(roots)
        and all(not _tissues(vocabulary, r) for r in roots if r not in local)
    ):
        roots = local  # with a tissue given, its own types outrank types of any tissue
    if roots:
        best, rest, contested = _separate(roots, checks)
        if best is None:  # unrelated lineages verified alike: the group may be mixed
            return Decision(group, rest[0], "weak", checks, alternatives=rest[1:], chain=chain(rest[0]))
        label, alternatives, deeper = _descend(best, verified, checks, vocabulary)
        return Decision(
            group, label, "verified", checks, alternatives or rest, chain(label), contested or deeper
        )
    weak = [n for n in names if checks[n].status in ("weak", "verified")]  # verified: not its parent
    if weak:
        ranked = sorted(weak, key=lambda n: (len(checks[n].supporting), checks[n].share), reverse=True)
        return Decision(group, ranked[0], "weak", checks, alternatives=ranked[1:], chain=chain(ranked[0]))
    closest = max(candidates, key=lambda n: len(checks[n].supporting), default=None)  # first of equals
    return Decision(group, f"unknown (closest: {closest})" if closest else "unknown", "unknown", checks)


def _tissues(vocabulary: CellTypes, name: str) -> tuple[str, ...]:
    return vocabulary.types[name].tissues if name in vocabulary else ()


def _separate(names: list[str], checks: dict[str, Check]) -> tuple[str | None, list[str], bool]:
    """The best-supported of several verified types when its share of its signature
    (:attr:`Check.signature_share`) leads the next by at least ``SEPARATION``:
    ``(best, others, contested)``; ``(None, ranked, False)`` when none leads."""
    ranked = sorted(names, key=lambda n: (checks[n].signature_share, len(checks[n].supporting)), reverse=True)
    if len(ranked) == 1:
        return ranked[0], [], False
    if checks[ranked[0]].signature_share - checks[ranked[1]].signature_share >= SEPARATION:
        return ranked[0], ranked[1:], True
    return None, ranked, False


def _descend(node: str, verified: list[str], checks, vocabulary: CellTypes) -> tuple[str, list[str], bool]:
    """From a verified type down its verified subtypes while one of them stands out: the deepest
    such type, the subtypes it could not choose between (if it stopped there), and whether a
    choice was contested."""
    contested = False
    while True:
        children = [n for n in verified if n in vocabulary and vocabulary.types[n].parent == node]
        if not children:
            return node, [], contested
        best, rest, split = _separate(children, checks)
        if best is None:
            return node, rest, contested
        node, contested = best, contested or split
