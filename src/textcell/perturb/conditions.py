"""Condition labels → perturbed genes: ``control``, ``A``, ``A+B``, resolved through GeneResolver.

A renamed or aliased symbol (MARCH8 → MARCHF8) resolves to its gene; a label naming no gene,
or several, stops with an error that names it, so no perturbation is ever dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from ..errors import GeneIdError, InputError
from ..genes.ids import AMBIGUOUS, GeneResolver


@dataclass(frozen=True)
class Condition:
    """One condition label and the Entrez IDs of the genes it perturbs (empty for control)."""

    label: str
    genes: tuple[str, ...]

    @property
    def is_control(self) -> bool:
        return not self.genes

    @property
    def is_combination(self) -> bool:
        return len(self.genes) > 1


def split_label(label: str, *, control: str, sep: str = "+") -> list[str]:
    """The gene names in ``label`` (``"A+B"`` → ``["A", "B"]``; ``"A+ctrl"`` → ``["A"]``)."""
    if label == control:
        return []
    parts = [p.strip() for p in str(label).split(sep)]
    if any(not p for p in parts):
        raise InputError(f"Condition {label!r} has an empty part; write combinations as 'A{sep}B'.")
    return [p for p in parts if p != control]


def resolve_conditions(
    labels: Iterable[str],
    *,
    control: str,
    resolver: GeneResolver,
    condition_genes: Mapping[str, str] | None = None,
    sep: str = "+",
    species: str = "human",
) -> tuple[dict[str, Condition], pd.DataFrame]:
    """Resolve every label; returns ``{label: Condition}`` and the resolver's table of gene names.

    ``condition_genes`` maps labels that are not gene names to the gene(s) they stand for
    (``{"stim": "IFNB1"}``, ``{"KO_pair": "STAT1+IRF1"}``).
    """
    condition_genes = dict(condition_genes or {})
    parts = {}
    for label in dict.fromkeys(map(str, labels)):
        spelled = condition_genes.get(label, label)
        parts[label] = [] if label == control else split_label(spelled, control=control, sep=sep)
    names = list(dict.fromkeys(n for ns in parts.values() for n in ns))
    if not names:
        return {label: Condition(label, ()) for label in parts}, _empty_table()
    table = resolver.resolve(names, species=species).table
    bad = table[~table["entrez"].astype(bool)]
    if len(bad):
        described = [
            f"{name} (ambiguous: {row['candidates'].replace(';', ', ')})"
            if row["route"] == AMBIGUOUS
            else f"{name} (not a known gene)"
            for name, row in bad.iterrows()
        ]
        culprits = [label for label, ns in parts.items() if set(ns) & set(bad.index)]
        raise GeneIdError(
            f"Condition(s) {', '.join(map(repr, culprits[:10]))} name genes the resolver cannot map: "
            f"{'; '.join(described)}. Use an official symbol, Ensembl or Entrez ID; map labels that "
            f"are not genes with condition_genes={{label: gene}}; or drop those cells "
            f"(the control label is {control!r})."
        )
    conditions = {
        label: Condition(label, tuple(dict.fromkeys(table.loc[n, "entrez"] for n in ns)))
        for label, ns in parts.items()
    }
    return conditions, table.reset_index().rename(columns={"query": "name"})


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame(columns=["name", "entrez", "symbol", "route", "candidates"])
