"""Build the gene corpus from NCBI Gene + Gene Ontology.

Two sources give the same tables:

* ``debian``: the SQLite files inside Debian's ``r-bioc-org.hs.eg.db`` and ``r-bioc-go.db``
  packages (``apt-get download`` + ``dpkg -x``; R itself is never needed);
* ``ncbi``: NCBI's ``Homo_sapiens.gene_info.gz`` and ``gene2go.gz`` with GO's ``go-basic.obo``,
  read from disk or downloaded.

Both are reduced to :class:`SourceTables`, and :func:`assemble` turns those into the corpus
document that :mod:`textcell.genes.corpus` reads. The output is deterministic: building twice
from the same sources gives byte-identical content.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .._io import atomic_write
from .._settings import settings
from ..errors import CorpusError

logger = logging.getLogger("textcell")

FORMAT = "textcell-gene-corpus"
FORMAT_VERSION = 1
ASPECTS = ("BP", "MF", "CC")
GO_ROOTS = frozenset({"GO:0008150", "GO:0003674", "GO:0005575"})
# Edges along which an annotation implies its ancestor term (the usual choice for term counts).
PROPAGATING_RELATIONS = frozenset({"is_a", "part_of"})
# GO.sqlite (Bioconductor's GO.db) spells the relations its own way; go-basic.obo spells them as above.
GO_DB_RELATIONS = {"isa": "is_a", "part of": "part_of"}

DEBIAN_PACKAGES = {"org": ("r-bioc-org.hs.eg.db", "3.16.0-1"), "go": ("r-bioc-go.db", "3.16.0-1")}
NCBI_URLS = {
    "gene_info": "https://ftp.ncbi.nlm.nih.gov/gene/DATA/GENE_INFO/Mammalia/Homo_sapiens.gene_info.gz",
    "gene2go": "https://ftp.ncbi.nlm.nih.gov/gene/DATA/gene2go.gz",
    "go_obo": "https://purl.obolibrary.org/obo/go/go-basic.obo",
}
LICENCES = {
    "NCBI Gene": "public domain (NCBI, US government work)",
    "Gene Ontology": "CC BY 4.0 (Gene Ontology Consortium)",
}
HUMAN_TAXID = "9606"


@dataclass
class GeneRow:
    entrez: str
    symbol: str
    name: str
    gene_type: str
    chromosome: str = ""
    cytoband: str = ""
    aliases: list[str] = field(default_factory=list)
    ensembl: list[str] = field(default_factory=list)


@dataclass
class SourceTables:
    """What every source provides, before ordering and packing."""

    genes: list[GeneRow]
    annotations: dict[str, set[str]]  # entrez -> directly annotated GO ids
    terms: dict[str, tuple[str, str]]  # GO id -> (name, aspect)
    parents: dict[str, set[str]]  # GO id -> parent GO ids along PROPAGATING_RELATIONS
    sources: dict[str, str]


# --------------------------------------------------------------------------- debian


def read_debian(org_sqlite: str | os.PathLike, go_sqlite: str | os.PathLike) -> SourceTables:
    """Read the Bioconductor ``org.Hs.eg.sqlite`` and ``GO.sqlite`` files."""
    org = _open_sqlite(org_sqlite, required_table="gene_info")
    go = _open_sqlite(go_sqlite, required_table="go_term")
    try:
        genes = _debian_genes(org)
        annotations: dict[str, set[str]] = defaultdict(set)
        for aspect in ("bp", "mf", "cc"):
            rows = org.execute(
                f"SELECT g.gene_id, a.go_id FROM go_{aspect} a JOIN genes g ON g._id = a._id"  # noqa: S608
            )
            for entrez, go_id in rows:
                annotations[entrez].add(go_id)
        terms = {
            go_id: (name, aspect)
            for go_id, name, aspect in go.execute(
                "SELECT go_id, term, ontology FROM go_term WHERE ontology IN ('BP', 'MF', 'CC')"
            )
        }
        parents: dict[str, set[str]] = defaultdict(set)
        for aspect in ("bp", "mf", "cc"):
            rows = go.execute(
                f"SELECT c.go_id, p.go_id, r.relationship_type FROM go_{aspect}_parents r "  # noqa: S608
                "JOIN go_term c ON c._id = r._id JOIN go_term p ON p._id = r._parent_id"
            )
            for child, parent, relation in rows:
                if GO_DB_RELATIONS.get(relation, relation) in PROPAGATING_RELATIONS:
                    parents[child].add(parent)
        org_meta = dict(org.execute("SELECT name, value FROM metadata"))
        go_meta = dict(go.execute("SELECT name, value FROM metadata"))
    except sqlite3.DatabaseError as exc:
        raise CorpusError(f"Could not read the Bioconductor SQLite files: {exc}") from exc
    finally:
        org.close()
        go.close()
    sources = {
        "route": "debian",
        "NCBI Gene": f"Entrez Gene {org_meta.get('EGSOURCEDATE', '?')}",
        "Gene Ontology": f"go-basic.obo {go_meta.get('GOSOURCEDATE', '?')}",
        "GO annotations": f"NCBI gene2go {org_meta.get('GOEGSOURCEDATE', '?')}",
        "Ensembl": f"Ensembl {org_meta.get('ENSOURCEDATE', '?')}",
        "container": "Debian " + ", ".join(f"{n} {v}" for n, v in DEBIAN_PACKAGES.values()),
    }
    return SourceTables(genes, dict(annotations), terms, dict(parents), sources)


def _open_sqlite(path: str | os.PathLike, *, required_table: str) -> sqlite3.Connection:
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path} does not exist; run `textcell corpus build` to fetch the sources.")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        con.execute(f"SELECT 1 FROM {required_table} LIMIT 1")  # noqa: S608
    except sqlite3.DatabaseError as exc:
        con.close()
        raise CorpusError(f"{path} is not the expected Bioconductor SQLite file: {exc}") from exc
    return con


def _debian_genes(org: sqlite3.Connection) -> list[GeneRow]:
    def grouped(sql: str) -> dict[int, list[str]]:
        out: dict[int, list[str]] = defaultdict(list)
        for key, value in org.execute(sql):
            out[key].append(value)
        return out

    chromosomes = grouped("SELECT _id, chromosome FROM chromosomes")
    bands = grouped("SELECT _id, cytogenetic_location FROM cytogenetic_locations")
    aliases = grouped("SELECT _id, alias_symbol FROM alias")
    ensembl = grouped("SELECT _id, ensembl_id FROM ensembl")
    rows = org.execute(
        "SELECT g._id, g.gene_id, i.symbol, i.gene_name, t.gene_type FROM genes g "
        "JOIN gene_info i ON i._id = g._id LEFT JOIN genetype t ON t._id = g._id"
    )
    return [
        GeneRow(
            entrez=entrez,
            symbol=symbol,
            name=name,
            gene_type=gene_type or "unknown",
            chromosome="|".join(sorted(set(chromosomes.get(key, [])))),
            cytoband="|".join(sorted(set(bands.get(key, [])))),
            aliases=[a for a in aliases.get(key, []) if a != symbol],
            ensembl=ensembl.get(key, []),
        )
        for key, entrez, symbol, name, gene_type in rows
    ]


def fetch_debian_sources(dest: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Download and unpack the two Debian packages; return the paths of their SQLite files.

    Needs ``apt-get`` and ``dpkg`` (any Debian or Ubuntu machine); R is never installed.
    The package versions are pinned in :data:`DEBIAN_PACKAGES` so a rebuild reproduces
    the bundled corpus.
    """
    dest = Path(dest) if dest else settings.cache_dir / "sources" / "debian"
    org = dest / "root/usr/lib/R/site-library/org.Hs.eg.db/extdata/org.Hs.eg.sqlite"
    go = dest / "root/usr/lib/R/site-library/GO.db/extdata/GO.sqlite"
    if org.is_file() and go.is_file():
        return org, go
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise CorpusError(
                f"`{tool}` is not available, so the Debian packages cannot be fetched. Use "
                "`textcell corpus build --source ncbi` instead, or pass --org-sqlite/--go-sqlite."
            )
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        specs = [f"{name}={version}" for name, version in DEBIAN_PACKAGES.values()]
        done = subprocess.run(["apt-get", "download", *specs], cwd=tmp, capture_output=True, text=True)
        if done.returncode != 0:
            raise CorpusError(
                f"`apt-get download {' '.join(specs)}` failed:\n{done.stderr.strip()}\n"
                "Run `apt-get update` first (as root), or pass --org-sqlite/--go-sqlite."
            )
        staging = Path(tmp) / "root"
        for deb in sorted(Path(tmp).glob("*.deb")):
            subprocess.run(["dpkg", "-x", str(deb), str(staging)], check=True)
        if (dest / "root").exists():
            shutil.rmtree(dest / "root")
        os.replace(staging, dest / "root")
    return org, go


# --------------------------------------------------------------------------- ncbi


def read_ncbi(
    gene_info: str | os.PathLike,
    gene2go: str | os.PathLike,
    go_obo: str | os.PathLike,
    *,
    taxid: str = HUMAN_TAXID,
) -> SourceTables:
    """Read NCBI's ``gene_info`` and ``gene2go`` tables and GO's ``go-basic.obo``."""
    genes = []
    for row in _tsv_rows(gene_info, expected="GeneID"):
        if row["#tax_id"] != taxid:
            continue
        xrefs = [] if row["dbXrefs"] == "-" else row["dbXrefs"].split("|")
        genes.append(
            GeneRow(
                entrez=row["GeneID"],
                symbol=row["Symbol"],
                name=row["description"],
                gene_type=row["type_of_gene"],
                chromosome="" if row["chromosome"] == "-" else row["chromosome"],
                cytoband="" if row["map_location"] == "-" else row["map_location"],
                aliases=[] if row["Synonyms"] == "-" else row["Synonyms"].split("|"),
                ensembl=[x.removeprefix("Ensembl:") for x in xrefs if x.startswith("Ensembl:")],
            )
        )
    annotations: dict[str, set[str]] = defaultdict(set)
    for row in _tsv_rows(gene2go, expected="GO_ID"):
        if row["#tax_id"] == taxid and not row["Qualifier"].startswith("NOT"):
            annotations[row["GeneID"]].add(row["GO_ID"])
    terms, parents, version = _read_obo(go_obo)
    sources = {
        "route": "ncbi",
        "NCBI Gene": f"{Path(gene_info).name} {_mtime_date(gene_info)}",
        "Gene Ontology": f"go-basic.obo {version}",
        "GO annotations": f"{Path(gene2go).name} {_mtime_date(gene2go)}",
        "Ensembl": "NCBI gene_info dbXrefs",
        "container": "NCBI FTP files",
    }
    return SourceTables(genes, dict(annotations), terms, parents, sources)


def _mtime_date(path: str | os.PathLike) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(Path(path).stat().st_mtime, tz=dt.UTC).date().isoformat()


def _open_text(path: str | os.PathLike):
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path} does not exist.")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _tsv_rows(path: str | os.PathLike, *, expected: str) -> Iterator[dict[str, str]]:
    with _open_text(path) as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if expected not in header or "#tax_id" not in header:
            raise CorpusError(f"{path} does not look like an NCBI gene table (header: {header[:4]}...).")
        for line in handle:
            yield dict(zip(header, line.rstrip("\n").split("\t"), strict=False))


def _read_obo(
    path: str | os.PathLike,
) -> tuple[dict[str, tuple[str, str]], dict[str, set[str]], str]:
    namespaces = {
        "biological_process": "BP",
        "molecular_function": "MF",
        "cellular_component": "CC",
    }
    terms: dict[str, tuple[str, str]] = {}
    parents: dict[str, set[str]] = defaultdict(set)
    version = "?"
    with _open_text(path) as handle:
        stanza: dict[str, list[str]] | None = None
        for raw in [*handle, "[Term]\n"]:
            line = raw.strip()
            if line.startswith("data-version:") and stanza is None:
                version = line.split(":", 1)[1].strip()
            if line.startswith("["):
                if stanza and "id" in stanza and "true" not in stanza.get("is_obsolete", []):
                    go_id = stanza["id"][0]
                    terms[go_id] = (stanza["name"][0], namespaces[stanza["namespace"][0]])
                    parents[go_id].update(v.split()[0] for v in stanza.get("is_a", []))
                    for rel in stanza.get("relationship", []):
                        kind, target = rel.split()[:2]
                        if kind in PROPAGATING_RELATIONS:
                            parents[go_id].add(target)
                stanza = {} if line == "[Term]" else None
            elif stanza is not None and ":" in line:
                key, value = line.split(":", 1)
                stanza.setdefault(key, []).append(value.strip())
    if not terms:
        raise CorpusError(f"{path} holds no GO terms; is it go-basic.obo?")
    return terms, dict(parents), version


def download_ncbi_sources(dest: str | os.PathLike | None = None) -> dict[str, Path]:
    """Download NCBI's gene tables and GO's ontology (about 1 GB for gene2go)."""
    import httpx

    from .._progress import progress

    dest = Path(dest) if dest else settings.cache_dir / "sources" / "ncbi"
    paths = {}
    for key, url in NCBI_URLS.items():
        target = dest / url.rsplit("/", 1)[1]
        if not target.is_file():
            logger.info("Downloading %s", url)
            with httpx.stream("GET", url, follow_redirects=True, timeout=120) as response:
                response.raise_for_status()
                total = int(response.headers.get("content-length", 0)) or None
                with atomic_write(target) as out:
                    for chunk in progress(
                        response.iter_bytes(1 << 20),
                        desc=target.name,
                        unit="MB",
                        total=total and total >> 20,
                    ):
                        out.write(chunk)
        paths[key] = target
    return paths


# --------------------------------------------------------------------------- assembly


def _ancestors(go_id: str, parents: dict[str, set[str]], memo: dict[str, frozenset[str]]) -> frozenset[str]:
    stack = [(go_id, False)]
    while stack:
        term, expanded = stack.pop()
        if term in memo:
            continue
        todo = [p for p in parents.get(term, ()) if p not in memo]
        if expanded or not todo:
            found = set()
            for parent in parents.get(term, ()):
                found.add(parent)
                found |= memo[parent]
            memo[term] = frozenset(found)
        else:
            stack.append((term, True))
            stack.extend((p, False) for p in todo)
    return memo[go_id]


def assemble(tables: SourceTables) -> dict:
    """Order and pack the source tables into the corpus document.

    A gene's GO terms are ordered most informative first: by how few genes carry the term
    once annotations are propagated to ancestor terms (the information content), then by name.
    The three root terms say nothing and are dropped.
    """
    memo: dict[str, frozenset[str]] = {}
    term_genes: dict[str, int] = defaultdict(int)
    direct: dict[str, list[str]] = {}
    for entrez, go_ids in tables.annotations.items():
        kept = sorted(g for g in go_ids if g in tables.terms and g not in GO_ROOTS)
        direct[entrez] = kept
        implied = set(kept)
        for go_id in kept:
            implied |= _ancestors(go_id, tables.parents, memo)
        for go_id in implied:
            term_genes[go_id] += 1

    used = sorted({g for ids in direct.values() for g in ids})
    index = {go_id: i for i, go_id in enumerate(used)}
    genes = sorted(tables.genes, key=lambda g: int(g.entrez))
    columns: dict[str, list] = {
        k: []
        for k in (
            "entrez",
            "symbol",
            "name",
            "type",
            "chromosome",
            "cytoband",
            "aliases",
            "ensembl",
            "go",
        )
    }
    for gene in genes:
        ordered = sorted(direct.get(gene.entrez, []), key=lambda g: (term_genes[g], tables.terms[g][0], g))
        columns["entrez"].append(gene.entrez)
        columns["symbol"].append(gene.symbol)
        columns["name"].append(gene.name)
        columns["type"].append(gene.gene_type)
        columns["chromosome"].append(gene.chromosome)
        columns["cytoband"].append(gene.cytoband)
        columns["aliases"].append(sorted(set(gene.aliases) - {gene.symbol}))
        columns["ensembl"].append(sorted(set(gene.ensembl)))
        columns["go"].append([index[g] for g in ordered])
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "species": "human",
        "taxid": int(HUMAN_TAXID),
        "sources": tables.sources,
        "licences": LICENCES,
        "go_terms": {
            "id": used,
            "name": [tables.terms[g][0] for g in used],
            "aspect": [tables.terms[g][1] for g in used],
            "n_genes": [term_genes[g] for g in used],
        },
        "genes": columns,
    }


def encode(document: dict) -> bytes:
    """The canonical bytes of a corpus document; its sha256 is the corpus checksum."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def summarise(document: dict) -> dict:
    """Counts worth recording beside the corpus (and checking in tests)."""
    genes = document["genes"]
    coding = [t == "protein-coding" for t in genes["type"]]
    return {
        "genes": len(genes["entrez"]),
        "protein_coding": sum(coding),
        "protein_coding_with_go": sum(c and bool(go) for c, go in zip(coding, genes["go"], strict=True)),
        "genes_with_go": sum(bool(go) for go in genes["go"]),
        "go_terms": len(document["go_terms"]["id"]),
        "annotations": sum(len(go) for go in genes["go"]),
    }


def write_corpus(document: dict, path: str | os.PathLike) -> dict:
    """Write ``path`` (gzip, reproducible bytes) and its manifest ``*.manifest.json``."""
    return write_document(
        document,
        path,
        format=(FORMAT, FORMAT_VERSION),
        sources=document["sources"],
        licences=document["licences"],
        counts=summarise(document),
    )


def write_document(
    document: dict, path: str | os.PathLike, *, format: tuple[str, int], sources, licences, counts, **extra
) -> dict:
    """Write a bundled data document (gzip, reproducible bytes) and its manifest
    ``*.manifest.json`` (file, sha256 of the canonical bytes, format, sources, licences, counts)."""
    path = Path(path)
    payload = encode(document)
    with (
        atomic_write(path) as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz,
    ):
        gz.write(payload)
    manifest = {
        "file": path.name,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "format": format[0],
        "format_version": format[1],
        **extra,
        "sources": sources,
        "licences": licences,
        "counts": counts,
    }
    with atomic_write(manifest_path(path), "w") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=True)
        handle.write("\n")
    return manifest


def manifest_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name.removesuffix(".json.gz") + ".manifest.json")


def build(
    source: str = "debian",
    *,
    output: str | os.PathLike,
    paths: Iterable[str] | None = None,
    download: bool = True,
) -> dict:
    """Build the corpus from ``source`` ("debian" or "ncbi") and write it to ``output``.

    ``paths`` gives the source files (debian: org and GO SQLite; ncbi: gene_info, gene2go,
    go-basic.obo); without them they are fetched (``download=True``) into the cache folder.
    """
    paths = list(paths or [])
    if source == "debian":
        if not paths:
            if not download:
                raise CorpusError("No SQLite files given; pass them or allow the download.")
            paths = list(fetch_debian_sources())
        if len(paths) != 2:
            raise CorpusError("The debian source takes two files: org.Hs.eg.sqlite and GO.sqlite.")
        tables = read_debian(*paths)
    elif source == "ncbi":
        if not paths:
            if not download:
                raise CorpusError("No NCBI files given; pass them or allow the download.")
            found = download_ncbi_sources()
            paths = [found["gene_info"], found["gene2go"], found["go_obo"]]
        if len(paths) != 3:
            raise CorpusError("The ncbi source takes three files: gene_info, gene2go and go-basic.obo.")
        tables = read_ncbi(*paths)
    else:
        raise CorpusError(f"Unknown corpus source {source!r}; use 'debian' or 'ncbi'.")
    return write_corpus(assemble(tables), output)
