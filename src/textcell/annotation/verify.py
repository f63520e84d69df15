"""Verification: a label stands only when the group expresses the label's canonical markers.

For each candidate type, its canonical positive markers that the data measures are checked against
:func:`~textcell.annotation.evidence.supported`:

- ``verified``: at least two measured, at least half of them (``min_share``) supported, no
  negative marker supported, and every ancestor of the type verified as well;
- ``weak``: at least one supported positive and no supported negative, but short of the above;
- ``unsupported``: otherwise.

Canonical markers are the vocabulary's (:mod:`~textcell.annotation.celltypes`) for the types it
knows. A type it does not know is checked with its own markers from the marker table; when that
table is a marker database (whose lists mix canonical markers with genes merely detected in the
type) such a type can be ``weak`` at best, while a table the user wrote counts as canonical.

A group's label is the most specific verified type. Several verified types that are not ancestor
and descendant make the label their common parent in the vocabulary when they have one, or the
best-supported of them as ``weak``: the group may be mixed, or the data too thin to tell them
apart. Without a verified type the best ``weak`` candidate is kept as ``weak``; without one of
those the group is ``unknown`` and names its closest candidate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from .celltypes import CellTypes

MIN_MARKERS = 2
MIN_SHARE = 0.5
RESOURCE_MARKERS = 10


@dataclass
class Check:
    """The marker check of one candidate type in one group."""

    cell_type: str
    status: str
    measured: list[str]
    supporting: list[str]
    missing: list[str]
    contradicting: list[str]

    @property
    def share(self) -> float:
        return len(self.supporting) / len(self.measured) if self.measured else 0.0


@dataclass
class Decision:
    group: str
    label: str
    status: str
    checks: dict[str, Check] = field(default_factory=dict)
    alternatives: list[str] = field(default_factory=list)

    @property
    def evidence(self) -> Check | None:
        return self.checks.get(self.label)


def canonical_markers(
    cell_type: str, vocabulary: CellTypes, markers: pd.DataFrame, measured: pd.Index
) -> tuple[list[str], list[str]]:
    """Positive and negative canonical markers of a type, restricted to measured genes: the
    vocabulary's for a type it knows, else the marker table's (canonical rows first, by weight)."""
    if cell_type in vocabulary:
        known = vocabulary.types[cell_type]
        return [g for g in known.positive if g in measured], [g for g in known.negative if g in measured]
    rows = markers[(markers["cell_type"] == cell_type) & markers["gene"].isin(measured)]
    positive = rows[rows["sign"] > 0].sort_values(["canonical", "weight"], ascending=False)
    return list(positive["gene"][:RESOURCE_MARKERS]), list(rows.loc[rows["sign"] < 0, "gene"])


def check(
    group: str,
    cell_type: str,
    support: pd.DataFrame,
    vocabulary: CellTypes,
    markers: pd.DataFrame,
    *,
    trust_markers: bool = False,
) -> Check:
    positive, negative = canonical_markers(cell_type, vocabulary, markers, support.columns)
    row = support.loc[group]
    supporting = [g for g in positive if row[g]]
    contradicting = [g for g in negative if row[g]]
    missing = [g for g in positive if not row[g]]
    needed = max(MIN_MARKERS, math.ceil(MIN_SHARE * len(positive)))
    canonical = cell_type in vocabulary or trust_markers
    if canonical and len(positive) >= MIN_MARKERS and len(supporting) >= needed and not contradicting:
        status = "verified"
    elif supporting and not contradicting:
        status = "weak"
    else:
        status = "unsupported"
    return Check(cell_type, status, positive, supporting, missing, contradicting)


def decide(
    group: str,
    candidates: list[str],
    support: pd.DataFrame,
    vocabulary: CellTypes,
    markers: pd.DataFrame,
    *,
    trust_markers: bool = False,
) -> Decision:
    """Check every candidate, its ancestors and its descendants in ``group``; choose the label.

    ``candidates`` are ordered best first (by the proposing sources); an unknown group names the
    one with the most supporting markers (the first of equals) as its closest match.
    ``trust_markers``: the marker table's lists are canonical (a table the user wrote), so types
    outside the vocabulary can be verified too.
    """
    lineage = lambda c: (c, *vocabulary.ancestors(c), *vocabulary.descendants(c))  # noqa: E731
    names = list(dict.fromkeys(n for c in candidates for n in lineage(c)))
    checks = {
        name: check(group, name, support, vocabulary, markers, trust_markers=trust_markers) for name in names
    }
    verified = [
        n
        for n in names
        if checks[n].status == "verified"
        and all(checks[a].status == "verified" for a in vocabulary.ancestors(n))
    ]
    by_support = lambda n: (len(checks[n].supporting), checks[n].share)  # noqa: E731
    specific = [n for n in verified if not any(n in vocabulary.ancestors(other) for other in verified)]
    if len(specific) == 1:
        return Decision(group, specific[0], "verified", checks)
    if specific:
        ranked = sorted(specific, key=by_support, reverse=True)
        parent = vocabulary.common_ancestor(specific)
        if parent is not None and parent in verified:
            return Decision(group, parent, "verified", checks, alternatives=specific)
        return Decision(group, ranked[0], "weak", checks, alternatives=ranked[1:])
    weak = [n for n in names if checks[n].status in ("weak", "verified")]  # verified: not its parent
    if weak:
        ranked = sorted(weak, key=by_support, reverse=True)
        return Decision(group, ranked[0], "weak", checks, alternatives=ranked[1:])
    closest = max(candidates, key=lambda n: len(checks[n].supporting), default=None)  # first of equals
    return Decision(group, f"unknown (closest: {closest})" if closest else "unknown", "unknown", checks)
