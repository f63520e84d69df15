"""The Cell Ontology (CL): every cell type's ID, label, definition, synonyms and ancestors.

textcell ships an extract of one CL release (``data/cl.json.gz``; version, licence and attribution
in ``data/cl.manifest.json``; rebuilt by ``scripts/build_cell_ontology.py``). The Cell Ontology is
CC BY 4.0: Diehl et al. (2016) J Biomed Semantics 7:44, doi:10.1186/s13326-016-0088-7.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from dataclasses import dataclass
from importlib.resources import files

from ..errors import InputError


def normalise_name(name: str) -> str:
    """Lower case, no punctuation, no ``cell``/``cells``, no plural ``s``: ``"CD14+ Monocytes"`` →
    ``"cd14+ monocyte"``; ``"CD4-positive, alpha-beta T cell"`` → ``"cd4 positive alpha beta t"``."""
    words = re.sub(r"[^0-9a-zα-ωγδ+]+", " ", name.lower()).split()
    words = [w for w in words if w not in ("cell", "cells", "the", "of")]
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words)


@dataclass(frozen=True)
class Term:
    id: str
    label: str
    definition: str
    synonyms: tuple[str, ...]
    ancestors: dict  # ancestor ID → distance (1: a parent)

    def text(self) -> str:
        """The term as one text: label, definition and synonyms (what the text source embeds)."""
        also = f" Also called: {'; '.join(self.synonyms)}." if self.synonyms else ""
        return f"{self.label}: {self.definition}{also}".strip()


class CellOntology:
    """The bundled Cell Ontology extract: look terms up by ID or by name, walk their ancestors."""

    def __init__(self, terms: dict[str, Term], manifest: dict):
        self.terms = terms
        self.manifest = manifest
        self._by_name: dict[str, str] = {}
        for term in terms.values():  # labels first: a synonym never hides another term's label
            self._by_name.setdefault(normalise_name(term.label), term.id)
        for term in terms.values():
            for synonym in term.synonyms:
                self._by_name.setdefault(normalise_name(synonym), term.id)

    @classmethod
    @functools.cache
    def bundled(cls) -> CellOntology:
        folder = files("textcell.ontology") / "data"
        manifest = json.loads((folder / "cl.manifest.json").read_text())
        raw = json.loads(gzip.decompress((folder / manifest["file"]).read_bytes()))
        terms = {
            i: Term(i, t["label"], t["definition"], tuple(t["synonyms"]), dict(t["ancestors"]))
            for i, t in raw.items()
        }
        return cls(terms, manifest)

    @property
    def version(self) -> str:
        return self.manifest["version"]

    def __contains__(self, term_id: str) -> bool:
        return term_id in self.terms

    def __len__(self) -> int:
        return len(self.terms)

    def term(self, term_id: str) -> Term:
        term_id = term_id.replace("_", ":")
        if term_id not in self.terms:
            raise InputError(f"{term_id!r} is not a current Cell Ontology term (CL {self.version}).")
        return self.terms[term_id]

    def label(self, term_id: str) -> str:
        return self.term(term_id).label

    def find(self, name: str) -> str | None:
        """The CL ID whose label or synonym is ``name`` (after :func:`normalise_name`), or a CL ID
        given as ``CL:0000084`` / ``CL_0000084``; ``None`` when there is none."""
        candidate = name.strip().replace("_", ":")
        if candidate in self.terms:
            return candidate
        return self._by_name.get(normalise_name(name))

    def is_a(self, term_id: str, ancestor: str) -> bool:
        """``term_id`` is ``ancestor`` or descends from it."""
        return term_id == ancestor or ancestor in self.term(term_id).ancestors
