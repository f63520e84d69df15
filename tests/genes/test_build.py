import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need
from textcell.errors import CorpusError
from textcell.genes import GeneCorpus
from textcell.genes.build import build, fetch_debian_sources, manifest_path

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "src" / "textcell" / "genes" / "data" / "human.json.gz"

GENE_INFO = """\
#tax_id\tGeneID\tSymbol\tLocusTag\tSynonyms\tdbXrefs\tchromosome\tmap_location\tdescription\ttype_of_gene\tSymbol_from_nomenclature_authority\tFull_name_from_nomenclature_authority\tNomenclature_status\tOther_designations\tModification_date\tFeature_type
9606\t916\tCD3E\t-\tIMD18|T3E|TCRE\tMIM:186830|HGNC:HGNC:1674|Ensembl:ENSG00000198851\t11\t11q23.3\tCD3 epsilon subunit of T-cell receptor complex\tprotein-coding\tCD3E\tCD3 epsilon subunit of T-cell receptor complex\tO\tT-cell surface glycoprotein CD3 epsilon chain\t20240101\t-
9606\t915\tCD3D\t-\tCD3-DELTA|IMD19|T3D\tMIM:186790|HGNC:HGNC:1673|Ensembl:ENSG00000167286\t11\t11q23.3\tCD3 delta subunit of T-cell receptor complex\tprotein-coding\tCD3D\tCD3 delta subunit of T-cell receptor complex\tO\tT-cell surface glycoprotein CD3 delta chain\t20240101\t-
9606\t16\tAARS1\t-\tAARS|CMT2N\tMIM:601065|HGNC:HGNC:20|Ensembl:ENSG00000090861\t16\t16q22.1\talanyl-tRNA synthetase 1\tprotein-coding\tAARS1\talanyl-tRNA synthetase 1\tO\talanine--tRNA ligase\t20240101\t-
9606\t100187828\tHBD\t-\t-\t-\t-\t-\thypophosphatemic bone disease\tunknown\tHBD\thypophosphatemic bone disease\tO\t-\t20240101\t-
10090\t12553\tCd3e\t-\tCD3epsilon\tEnsembl:ENSMUSG00000032093\t9\t9 A5.2\tCD3 antigen, epsilon polypeptide\tprotein-coding\tCd3e\t-\tO\t-\t20240101\t-
"""
GENE2GO = """\
#tax_id\tGeneID\tGO_ID\tEvidence\tQualifier\tGO_term\tPubMed\tCategory
9606\t916\tGO:0002250\tIEA\tinvolved_in\tadaptive immune response\t-\tProcess
9606\t916\tGO:0042110\tIDA\tinvolved_in\tT cell activation\t-\tProcess
9606\t916\tGO:0008150\tND\tinvolved_in\tbiological_process\t-\tProcess
9606\t916\tGO:0031295\tIMP\tNOT involved_in\tT cell costimulation\t-\tProcess
9606\t915\tGO:0002250\tIEA\tinvolved_in\tadaptive immune response\t-\tProcess
9606\t16\tGO:0006419\tIDA\tinvolved_in\talanyl-tRNA aminoacylation\t-\tProcess
9606\t16\tGO:0004813\tIDA\tenables\talanine-tRNA ligase activity\t-\tFunction
9606\t16\tGO:0005737\tIDA\tlocated_in\tcytoplasm\t-\tComponent
10090\t12553\tGO:0042110\tIDA\tinvolved_in\tT cell activation\t-\tProcess
"""
OBO = """\
format-version: 1.2
data-version: releases/2024-01-17

[Term]
id: GO:0008150
name: biological_process
namespace: biological_process

[Term]
id: GO:0002376
name: immune system process
namespace: biological_process
is_a: GO:0008150 ! biological_process

[Term]
id: GO:0002250
name: adaptive immune response
namespace: biological_process
is_a: GO:0002376 ! immune system process

[Term]
id: GO:0042110
name: T cell activation
namespace: biological_process
relationship: part_of GO:0002250 ! adaptive immune response

[Term]
id: GO:0031295
name: T cell costimulation
namespace: biological_process
is_a: GO:0042110 ! T cell activation

[Term]
id: GO:0006419
name: alanyl-tRNA aminoacylation
namespace: biological_process
is_a: GO:0008150 ! biological_process

[Term]
id: GO:0003674
name: molecular_function
namespace: molecular_function

[Term]
id: GO:0004813
name: alanine-tRNA ligase activity
namespace: molecular_function
is_a: GO:0003674 ! molecular_function

[Term]
id: GO:0005575
name: cellular_component
namespace: cellular_component

[Term]
id: GO:0005737
name: cytoplasm
namespace: cellular_component
is_a: GO:0005575 ! cellular_component

[Term]
id: GO:0099999
name: obsolete thing
namespace: biological_process
is_obsolete: true

[Typedef]
id: part_of
name: part of
"""


@pytest.fixture
def ncbi_files(tmp_path):
    paths = []
    for name, text in (
        ("Homo_sapiens.gene_info.gz", GENE_INFO),
        ("gene2go.gz", GENE2GO),
        ("go-basic.obo", OBO),
    ):
        path = tmp_path / name
        if name.endswith(".gz"):
            path.write_bytes(gzip.compress(text.encode(), mtime=0))
        else:
            path.write_text(text)
        paths.append(str(path))
    return paths


def test_ncbi_files_build_a_corpus(ncbi_files, tmp_path):
    out = tmp_path / "human.json.gz"
    manifest = build("ncbi", output=out, paths=ncbi_files)
    corpus = GeneCorpus.load(out)
    assert len(corpus) == 4  # the mouse row is not human
    cd3e = corpus.record("916")
    assert cd3e.aliases == ("IMD18", "T3E", "TCRE")
    assert cd3e.ensembl == ("ENSG00000198851",)
    assert cd3e.cytoband == "11q23.3"
    # T cell activation (1 gene) is more specific than adaptive immune response (2 genes);
    # the NOT annotation and the root term are dropped
    assert cd3e.go_bp == ("T cell activation", "adaptive immune response")
    aars = corpus.record("16")
    assert (aars.go_mf, aars.go_cc) == (("alanine-tRNA ligase activity",), ("cytoplasm",))
    assert manifest["counts"]["protein_coding_with_go"] == 3
    assert manifest["sources"]["Gene Ontology"] == "go-basic.obo releases/2024-01-17"


def test_build_is_byte_reproducible(ncbi_files, tmp_path):
    first = build("ncbi", output=tmp_path / "a.json.gz", paths=ncbi_files)
    second = build("ncbi", output=tmp_path / "b.json.gz", paths=ncbi_files)
    assert first["sha256"] == second["sha256"]
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes()


def test_build_rejects_wrong_files(ncbi_files, tmp_path):
    with pytest.raises(CorpusError, match="NCBI gene table"):
        build(
            "ncbi",
            output=tmp_path / "x.json.gz",
            paths=[ncbi_files[2], ncbi_files[1], ncbi_files[2]],
        )
    with pytest.raises(CorpusError, match="Unknown corpus source"):
        build("ensembl", output=tmp_path / "x.json.gz", paths=ncbi_files)
    not_sqlite = tmp_path / "org.sqlite"
    not_sqlite.write_text("not a database")
    with pytest.raises(CorpusError, match="not the expected Bioconductor SQLite"):
        build("debian", output=tmp_path / "x.json.gz", paths=[not_sqlite, not_sqlite])
    assert not (tmp_path / "x.json.gz").exists()


def test_bundled_corpus_gives_go_cards_to_protein_coding_genes(corpus):
    counts = corpus.counts()
    print(counts)
    assert counts["protein_coding_with_go"] >= 18_500
    manifest = json.loads(manifest_path(BUNDLED).read_text())
    assert manifest["counts"] == counts
    assert manifest["sha256"] == corpus.checksum
    assert set(manifest["licences"]) == {"NCBI Gene", "Gene Ontology"}


@pytest.mark.slow
def test_debian_rebuild_reproduces_the_bundled_corpus(tmp_path):
    if shutil.which("apt-get") is None:
        need("apt-get is not available to fetch Debian's r-bioc-org.hs.eg.db and r-bioc-go.db")
    try:
        org, go = fetch_debian_sources(tmp_path / "debian")
    except CorpusError as exc:
        need(f"Debian packages could not be fetched: {exc}")
    out = tmp_path / "human.json.gz"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "build_corpus.py"),
            "--files",
            str(org),
            str(go),
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rebuilt = json.loads(done.stdout)
    bundled = json.loads(manifest_path(BUNDLED).read_text())
    assert rebuilt["sha256"] == bundled["sha256"]
    assert out.read_bytes() == BUNDLED.read_bytes()
