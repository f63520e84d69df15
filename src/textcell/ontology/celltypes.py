"""textcell's canonical cell types: the vocabulary labels are verified in.

``data/cell_types.tsv`` lists the major cell types of the main tissues, each with its Cell Ontology
term, the type that must be verified before it (its *parent*, a CL ancestor), the tissues it is
specific to, canonical positive and negative markers (human symbols; mouse markers where mouse
biology differs), the names the marker databases and common usage give it, and the publications
its markers come from (``data/references.tsv``).

Names from any source (a marker database, a text match, a reference, a chat model) map onto the
table through :meth:`CellTypes.canonical_name`, and onto CL terms through
:meth:`CellTypes.cell_ontology_of`; a type the table does not know keeps its own name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from importlib.resources import files

import pandas as pd

from .cl import CellOntology, normalise_name

TISSUE_ALIASES = {
    "lungs": "lung",
    "airway": "lung",
    "gi tract": "gut",
    "intestine": "gut",
    "small intestine": "gut",
    "large intestine": "gut",
    "colon": "gut",
    "nervous system": "brain",
    "central nervous system": "brain",
    "cortex": "brain",
    "eye": "retina",
    "muscle": "skeletal muscle",
    "adipose tissue": "adipose",
    "fat": "adipose",
    "bone marrow": "bone marrow",
    "mammary gland": "breast",
    "urinary bladder": "bladder",
    "adrenal glands": "adrenal",
    "adrenal gland": "adrenal",
    "reproductive": "testis; ovary",
    "oral cavity": "salivary gland",
    "immune system": "blood; lymph node; spleen; thymus; bone marrow",
}


def tissue_keys(tissue: str | list[str] | None) -> set[str] | None:
    """The table's tissue names for a user's tissue names (PanglaoDB organs map too)."""
    if tissue is None:
        return None
    keys = set()
    for name in [tissue] if isinstance(tissue, str) else tissue:
        name = name.strip().lower()
        keys |= {k.strip() for k in TISSUE_ALIASES.get(name, name).split(";")}
    return keys


@dataclass(frozen=True)
class CellType:
    name: str
    cell_ontology: str
    parent: str | None
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    tissues: tuple[str, ...] = ()
    mouse: tuple[str, ...] = ()
    references: tuple[str, ...] = ()


class CellTypes:
    """Cell types with canonical markers and a verification parent each (a forest), on the CL."""

    def __init__(
        self, types: list[CellType], synonyms: dict[str, str] | None = None, species="human", tissue=None
    ):
        self.types = {t.name: t for t in types}
        self.species = species
        self.tissue: set[str] | None = tissue  # the tissues it was narrowed to (for_tissue)
        self._names = {normalise_name(t.name): t.name for t in types}
        self._synonyms = dict(synonyms or {})
        self._by_ontology = {t.cell_ontology: t.name for t in types}

    @classmethod
    @functools.cache
    def bundled(cls) -> CellTypes:
        """The table shipped with textcell (human markers)."""
        path = files("textcell.ontology") / "data" / "cell_types.tsv"
        with path.open() as handle:
            table = pd.read_csv(handle, sep="\t", comment="#", dtype=str).fillna("")
        split = lambda text, sep=",": tuple(s.strip() for s in text.split(sep) if s.strip())  # noqa: E731
        types = [
            CellType(
                row.cell_type,
                row.cell_ontology,
                row.parent or None,
                split(row.positive),
                split(row.negative),
                split(row.tissues, ";"),
                split(row.mouse),
                split(row.references, ";"),
            )
            for row in table.itertuples()
        ]
        synonyms: dict[str, str] = {}
        for row in table.itertuples():
            for synonym in split(row.names, ";"):
                synonyms.setdefault(normalise_name(synonym), row.cell_type)
        return cls(types, synonyms)

    def _derived(self, types: list[CellType], species: str | None = None, tissue=None) -> CellTypes:
        kept = {t.name for t in types}
        synonyms = {k: v for k, v in self._synonyms.items() if v in kept}
        return CellTypes(types, synonyms, species or self.species, tissue or self.tissue)

    def for_species(self, species: str, resolver=None) -> CellTypes:
        """The table with the positive markers of ``species`` as the symbols expression is resolved
        to: for mouse, each type's mouse list through ``resolver`` (human orthologs; a mouse gene
        without one keeps its mouse symbol), or its human list where it has no mouse list."""
        if species != "mouse":
            return self
        if resolver is None:
            from ..genes.ids import default_resolver

            resolver = default_resolver()
        mouse = sorted({g for t in self.types.values() for g in t.mouse})
        if not mouse:
            return self._derived(list(self.types.values()), "mouse")
        table = resolver.resolve(mouse, species="mouse").table["symbol"]
        to_human = {g: (table.get(g) or g) for g in mouse}
        types = [
            replace(t, positive=tuple(dict.fromkeys(to_human[g] for g in t.mouse))) if t.mouse else t
            for t in self.types.values()
        ]
        return self._derived(types, "mouse")

    def for_tissue(self, tissue) -> CellTypes:
        """The types that live in ``tissue`` (those without tissues live anywhere), with their
        parents; every type when ``tissue`` is ``None``."""
        keys = tissue_keys(tissue)
        if keys is None:
            return self
        kept = {n for n, t in self.types.items() if not t.tissues or keys & set(t.tissues)}
        kept |= {a for n in kept for a in self.ancestors(n)}
        return self._derived([t for n, t in self.types.items() if n in kept], tissue=keys)

    def canonical_name(self, name: str) -> str | None:
        """The table's name for ``name`` (its own name, a synonym, a CL ID or a CL label or
        synonym of one of its terms), or ``None``."""
        key = normalise_name(name)
        found = self._names.get(key) or self._synonyms.get(key)
        if found is None:
            term = CellOntology.bundled().find(name)
            found = self._by_ontology.get(term) if term else None
        return found

    def cell_ontology_of(self, name: str) -> str | None:
        """The CL ID of a name: the table's type's, else a CL term whose label or synonym it is."""
        known = self.canonical_name(name)
        if known is not None:
            return self.types[known].cell_ontology
        return CellOntology.bundled().find(name)

    def __contains__(self, name: str) -> bool:
        return name in self.types

    def __len__(self) -> int:
        return len(self.types)

    def ancestors(self, name: str) -> list[str]:
        """Parent, grandparent, … of a type in the table (empty for others)."""
        chain = []
        parent = self.types[name].parent if name in self.types else None
        while parent is not None:
            chain.append(parent)
            parent = self.types[parent].parent
        return chain

    def chain(self, name: str) -> list[str]:
        """Root first, ``name`` last: the verification path to a type."""
        return [*reversed(self.ancestors(name)), name]

    def descendants(self, name: str) -> list[str]:
        """Every type below ``name`` in the table."""
        return [n for n in self.types if name in self.ancestors(n)]

    def common_ancestor(self, names: list[str]) -> str | None:
        """The most specific type every one of ``names`` is or descends from."""
        lineages = [[n, *self.ancestors(n)] for n in names]
        shared = set(lineages[0]).intersection(*lineages[1:])
        return next((n for n in lineages[0] if n in shared), None)

    def is_a(self, name: str, other: str) -> bool:
        """``name`` is ``other`` or below it in the table or in the Cell Ontology (both must be
        table types or CL terms)."""
        if name == other or other in self.ancestors(name):
            return True
        mine, theirs = self.cell_ontology_of(name), self.cell_ontology_of(other)
        ontology = CellOntology.bundled()
        return bool(mine and theirs and mine in ontology and ontology.is_a(mine, theirs))


def references() -> pd.DataFrame:
    """The publications behind the bundled markers: ``key, citation, doi``."""
    path = files("textcell.ontology") / "data" / "references.tsv"
    with path.open() as handle:
        return pd.read_csv(handle, sep="\t", comment="#", dtype=str)
