"""The vocabulary labels are verified in: cell types, their canonical markers and their parents.

textcell ships a small table of common cell types (``data/cell_types.tsv``) with Cell Ontology
IDs, a parent per type, canonical positive and negative markers, and the names the marker
databases and common usage give them. Names from any source (a marker database, a text match, a
reference, a chat model) map onto it through :meth:`CellTypes.canonical_name`; a type the table
does not know keeps its own name and is verified with its own markers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files

import pandas as pd


def normalise_name(name: str) -> str:
    """Lower case, no punctuation, no ``cell``/``cells``, no plural ``s``: ``"CD14+ Monocytes"`` →
    ``"cd14+ monocyte"``."""
    words = re.sub(r"[^0-9a-zα-ωγδ+]+", " ", name.lower()).split()
    words = [w for w in words if w not in ("cell", "cells", "the")]
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words)


@dataclass(frozen=True)
class CellType:
    name: str
    cell_ontology: str
    parent: str | None
    positive: tuple[str, ...]
    negative: tuple[str, ...]


class CellTypes:
    """Cell types with canonical markers and a parent each (a forest)."""

    def __init__(self, types: list[CellType]):
        self.types = {t.name: t for t in types}
        self._names: dict[str, str] = {}
        for cell_type in types:
            self._names[normalise_name(cell_type.name)] = cell_type.name
        self._synonyms: dict[str, str] = {}

    @classmethod
    def bundled(cls) -> CellTypes:
        path = files("textcell.annotation") / "data" / "cell_types.tsv"
        with path.open() as handle:
            table = pd.read_csv(handle, sep="\t", comment="#", dtype=str).fillna("")
        split = lambda text, sep=",": tuple(filter(None, text.split(sep)))  # noqa: E731
        vocabulary = cls(
            [
                CellType(
                    row.cell_type,
                    row.cell_ontology,
                    row.parent or None,
                    split(row.positive),
                    split(row.negative),
                )
                for row in table.itertuples()
            ]
        )
        for row in table.itertuples():
            for synonym in split(row.names, ";"):
                vocabulary._synonyms.setdefault(normalise_name(synonym), row.cell_type)
        return vocabulary

    def canonical_name(self, name: str) -> str | None:
        """The table's name for ``name`` (its own name or a synonym), or ``None``."""
        key = normalise_name(name)
        return self._names.get(key) or self._synonyms.get(key)

    def __contains__(self, name: str) -> bool:
        return name in self.types

    def ancestors(self, name: str) -> list[str]:
        """Parent, grandparent, … of a type in the table (empty for others)."""
        chain = []
        parent = self.types[name].parent if name in self.types else None
        while parent is not None:
            chain.append(parent)
            parent = self.types[parent].parent
        return chain

    def descendants(self, name: str) -> list[str]:
        """Every type below ``name`` in the table."""
        return [n for n in self.types if name in self.ancestors(n)]

    def common_ancestor(self, names: list[str]) -> str | None:
        """The most specific type every one of ``names`` is or descends from."""
        lineages = [[n, *self.ancestors(n)] for n in names]
        shared = set(lineages[0]).intersection(*lineages[1:])
        return next((n for n in lineages[0] if n in shared), None)
