"""Text views: how a gene record becomes the text that gets embedded.

Each view has a version; its id (``card@1``) goes into provenance and cache keys, so a
change to how a view renders must bump its version and never mixes with older vectors.
A view may render a gene as the empty string (``function`` for a gene with neither summary nor
GO terms): such a gene has no text, and embedders give it no vector.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InputError
from .corpus import GeneRecord

MAX_TERMS_PER_ASPECT = 10
MAX_ALIASES = 8
GENE_TYPE_WORDS = {
    "protein-coding": "protein-coding gene",
    "ncRNA": "non-coding RNA gene",
    "pseudo": "pseudogene",
    "biological-region": "biological region",
    "unknown": "gene of unknown type",
    "other": "gene",
}


@dataclass(frozen=True)
class View:
    """A named, versioned way of rendering a gene record as text; its ``id`` is ``name@version``."""

    name: str
    version: int
    description: str
    render: Callable[[GeneRecord], str]

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"


def _name(record: GeneRecord) -> str:
    return f"{record.symbol}: {record.name}"


def _card(record: GeneRecord) -> str:
    kind = GENE_TYPE_WORDS.get(record.gene_type, f"{record.gene_type} gene")
    parts = [f"{record.symbol} ({record.name}) is a {kind}"]
    if record.cytoband or record.chromosome:
        parts[0] += f" at {record.cytoband or 'chromosome ' + record.chromosome}"
    parts[0] += "."
    if record.aliases:
        parts.append("Also known as " + ", ".join(record.aliases[:MAX_ALIASES]) + ".")
    return " ".join(parts + _go_sentences(record))


def _go_sentences(record: GeneRecord, limit: int | None = MAX_TERMS_PER_ASPECT) -> list[str]:
    """One sentence per GO aspect: its first ``limit`` terms (most specific first), or all."""
    return [
        f"{label}: " + "; ".join(terms[:limit]) + "."
        for label, terms in (
            ("Biological process", record.go_bp),
            ("Molecular function", record.go_mf),
            ("Cellular component", record.go_cc),
        )
        if terms
    ]


def mask_names(text: str, record: GeneRecord) -> str:
    """``text`` with the gene's own symbol and aliases (whole words) replaced by "this gene"."""
    names = sorted((n for n in {record.symbol, *record.aliases} if n and n in text), key=len, reverse=True)
    if not names:  # the common case, without compiling a pattern
        return text
    pattern = r"(?<![\w-])(?:" + "|".join(map(re.escape, names)) + r")(?![\w-])"
    return re.sub(pattern, "this gene", text)


def _function(record: GeneRecord, limit: int | None = MAX_TERMS_PER_ASPECT) -> str:
    knowledge = _go_sentences(record, limit)
    if not (record.summary or knowledge):
        return ""
    parts = [mask_names(record.summary, record)] if record.summary else []
    parts.append(f"Name: {mask_names(record.name, record)}.")
    return " ".join(parts + knowledge)


def _function_all(record: GeneRecord) -> str:
    return _function(record, None)


def _summary(record: GeneRecord) -> str:
    if record.summary:
        return f"{record.symbol} ({record.name}): {record.summary}"
    return _card(record)


def _full(record: GeneRecord) -> str:
    if record.summary:
        return f"{_summary(record)} {_card(record)}"
    return _card(record)


VIEWS: dict[str, View] = {
    v.name: v
    for v in (
        View("name", 1, "symbol and full name", _name),
        View("card", 1, "name, aliases, type, location and the most specific GO terms", _card),
        View("summary", 1, "RefSeq summary where one exists, otherwise the card", _summary),
        View("full", 1, "RefSeq summary followed by the card", _full),
        View(
            "function",
            1,
            "what the gene does: its RefSeq summary, full name (own symbol and aliases masked in "
            "both) and GO terms; empty for a gene with neither summary nor GO terms, which then "
            "gets no vector",
            _function,
        ),
        View(
            "function_all",
            1,
            "the function view with every GO term of the gene, not only the "
            f"{MAX_TERMS_PER_ASPECT} most specific per aspect: for bag-of-words models (TF-IDF), which "
            "read the whole text, where a transformer would cut it at its token limit",
            _function_all,
        ),
    )
}


def get_view(view: str | View) -> View:
    """The view called ``view`` (``"card"`` or ``"card@1"``); an unknown name lists the valid ones."""
    if isinstance(view, View):
        return view
    name, _, version = str(view).partition("@")
    found = VIEWS.get(name)
    if found is None or (version and version != str(found.version)):
        valid = ", ".join(v.id for v in VIEWS.values())
        raise InputError(f"Unknown text view {view!r}; valid views: {valid}.")
    return found
