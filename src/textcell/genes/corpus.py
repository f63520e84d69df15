"""GeneCorpus: the gene records (ids, names, GO terms, summaries) that every text comes from."""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import json
import os
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import CorpusError, InputError
from .build import FORMAT, FORMAT_VERSION, manifest_path, summarise

BUNDLED = "human.json.gz"
BUNDLED_SUMMARIES = "human.summaries.json.gz"
BUNDLED_SUMMARY_SOURCE = "RefSeq (bundled)"


@dataclass(frozen=True)
class GeneRecord:
    """Everything the corpus knows about one gene."""

    entrez: str
    symbol: str
    name: str
    gene_type: str
    chromosome: str
    cytoband: str
    aliases: tuple[str, ...]
    ensembl: tuple[str, ...]
    go_bp: tuple[str, ...]
    go_mf: tuple[str, ...]
    go_cc: tuple[str, ...]
    summary: str | None = None


class GeneCorpus:
    """Gene records of one species, looked up by Entrez ID.

    Load the bundled human corpus with :meth:`load` (its RefSeq summaries come attached); attach
    other summaries with :meth:`with_summaries`; turn records into texts with :meth:`render`.
    """

    def __init__(
        self,
        document: dict,
        *,
        checksum: str,
        summaries: Mapping[str, str] | None = None,
        summary_source: str | None = None,
    ):
        if document.get("format") != FORMAT or document.get("format_version") != FORMAT_VERSION:
            raise CorpusError(
                f"Not a textcell gene corpus of format version {FORMAT_VERSION}; "
                "rebuild it with `textcell corpus build`."
            )
        self._doc = document
        self._genes = document["genes"]
        self.checksum = checksum
        self.summaries: Mapping[str, str] = dict(summaries or {})
        self.summary_source = summary_source
        self._row = {entrez: i for i, entrez in enumerate(self._genes["entrez"])}
        terms = document["go_terms"]
        self._term_names = terms["name"]
        self._term_aspects = terms["aspect"]

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> GeneCorpus:
        """Read a corpus file and verify its checksum; by default the bundled human corpus, with the
        RefSeq summaries bundled beside it attached."""
        if path is None:
            return _bundled()
        return _read(Path(path))

    def with_summaries(self, source: str | os.PathLike | Mapping[str, str]) -> GeneCorpus:
        """A copy of this corpus with RefSeq summaries attached; they replace the summaries it
        already has for the same genes.

        ``source`` is a mapping Entrez ID → summary, or a JSONL / TSV / CSV file (optionally
        gzipped) with an ``entrez`` (or ``symbol``) column and a ``summary`` column, as written
        by ``textcell corpus fetch-ncbi``.
        """
        if isinstance(source, Mapping):
            summaries, label = {str(k): v for k, v in source.items() if v}, "mapping"
        else:
            summaries, label = self._read_summaries(Path(source)), Path(source).name
        return GeneCorpus(
            self._doc,
            checksum=self.checksum,
            summaries={**self.summaries, **summaries},
            summary_source=label,
        )

    def _read_summaries(self, path: Path) -> dict[str, str]:
        rows = read_table(path)
        by_symbol = {s: e for e, s in zip(self._genes["entrez"], self._genes["symbol"], strict=True)}
        out = {}
        for row in rows:
            summary = (row.get("summary") or "").strip()
            entrez = str(row.get("entrez") or row.get("gene_id") or "").strip()
            entrez = entrez or by_symbol.get(str(row.get("symbol", "")).strip(), "")
            if summary and entrez:
                out[entrez] = summary
        if not out:
            raise InputError(
                f"{path} holds no usable summaries: it needs a 'summary' column and an 'entrez' "
                "or 'symbol' column."
            )
        return out

    # ------------------------------------------------------------------ access
    @functools.cached_property
    def version(self) -> str:
        """Short id of the corpus content (and of the attached summaries, if any)."""
        base = f"{self._doc['species']}-{self.checksum[:12]}"
        if not self.summaries:
            return base
        digest = hashlib.sha256(json.dumps(sorted(self.summaries.items())).encode()).hexdigest()
        return f"{base}+summaries-{digest[:12]}"

    @property
    def species(self) -> str:
        return self._doc["species"]

    @property
    def sources(self) -> dict[str, str]:
        return dict(self._doc["sources"])

    @property
    def columns(self) -> Mapping[str, list]:
        """The corpus as columns (``entrez``, ``symbol``, ``aliases``, ``ensembl``, ...)."""
        return self._genes

    @property
    def go_terms(self) -> Mapping[str, list]:
        """The GO terms the genes' ``go`` columns index: ``id``, ``name``, ``aspect``, ``n_genes``
        (genes carrying the term or a descendant)."""
        return self._doc["go_terms"]

    def counts(self) -> dict[str, int]:
        """Numbers of genes, protein-coding genes with GO terms, terms and annotations."""
        return summarise(self._doc)

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, entrez: object) -> bool:
        return entrez in self._row

    def record(self, entrez: str) -> GeneRecord:
        """The record of the gene with this Entrez ID."""
        try:
            i = self._row[entrez]
        except KeyError:
            raise InputError(
                f"Entrez ID {entrez!r} is not in the corpus; resolve names first with "
                "textcell.genes.GeneResolver."
            ) from None
        g = self._genes
        by_aspect: dict[str, list[str]] = {"BP": [], "MF": [], "CC": []}
        for t in g["go"][i]:
            by_aspect[self._term_aspects[t]].append(self._term_names[t])
        return GeneRecord(
            entrez=entrez,
            symbol=g["symbol"][i],
            name=g["name"][i],
            gene_type=g["type"][i],
            chromosome=g["chromosome"][i],
            cytoband=g["cytoband"][i],
            aliases=tuple(g["aliases"][i]),
            ensembl=tuple(g["ensembl"][i]),
            go_bp=tuple(by_aspect["BP"]),
            go_mf=tuple(by_aspect["MF"]),
            go_cc=tuple(by_aspect["CC"]),
            summary=self.summaries.get(entrez),
        )

    def render(self, entrez_ids: Iterable[str], view: str = "card") -> list[str]:
        """The text of each gene under ``view`` (see :func:`textcell.genes.views`)."""
        from .views import get_view

        render = get_view(view).render
        return [render(self.record(e)) for e in entrez_ids]


def read_table(path: Path) -> list[dict]:
    """Rows of a JSONL, TSV or CSV file (gzip allowed), with clear errors for bad files."""
    if not path.is_file():
        raise InputError(f"{path} does not exist.")
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise InputError(f"Could not read {path}: {exc}") from exc
    stem = path.name.removesuffix(".gz")
    try:
        if stem.endswith((".jsonl", ".ndjson")):
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        delimiter = "," if stem.endswith(".csv") else "\t"
        return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON Lines: {exc}") from exc


def _read(path: Path) -> GeneCorpus:
    if not path.is_file():
        raise CorpusError(f"Corpus file {path} does not exist; build it with `textcell corpus build`.")
    try:
        payload = gzip.decompress(path.read_bytes())
        document = json.loads(payload)
    except (OSError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(
            f"Corpus file {path} is corrupt ({exc}); rebuild it with `textcell corpus build` "
            "or reinstall textcell."
        ) from exc
    checksum = hashlib.sha256(payload).hexdigest()
    manifest = manifest_path(path)
    if manifest.is_file():
        expected = json.loads(manifest.read_text())["sha256"]
        if expected != checksum:
            raise CorpusError(
                f"Corpus file {path} does not match its manifest checksum ({checksum[:12]} != "
                f"{expected[:12]}); rebuild it with `textcell corpus build` or reinstall textcell."
            )
    if not isinstance(document, dict):
        raise CorpusError(f"Corpus file {path} does not hold a corpus document.")
    return GeneCorpus(document, checksum=checksum)


@functools.cache
def _bundled() -> GeneCorpus:
    from .summaries import read_summaries

    data = resources.files("textcell.genes") / "data"
    with resources.as_file(data / BUNDLED) as path:
        corpus = _read(path)
    with resources.as_file(data / BUNDLED_SUMMARIES) as path:
        summaries = read_summaries(path, corpus_sha256=corpus.checksum)
    return GeneCorpus(
        corpus._doc, checksum=corpus.checksum, summaries=summaries, summary_source=BUNDLED_SUMMARY_SOURCE
    )
