import gzip
import json
import re
from pathlib import Path

import pytest

from textcell.errors import CorpusError, InputError
from textcell.genes import VIEWS, GeneCorpus, get_view
from textcell.genes.build import manifest_path


def test_record_holds_ids_names_and_go_terms(corpus):
    cd3e = corpus.record("916")
    assert cd3e.symbol == "CD3E"
    assert "ENSG00000198851" in cd3e.ensembl
    assert "T3E" in cd3e.aliases
    assert cd3e.gene_type == "protein-coding"
    assert any("T cell" in term for term in cd3e.go_bp)
    assert cd3e.summary.startswith("The protein encoded by this gene is the CD3-epsilon polypeptide")


def test_go_terms_most_informative_first(corpus):
    terms = corpus.record("916").go_mf
    # "protein binding" is carried by most genes and must come after specific terms
    assert terms.index("protein binding") > terms.index("T cell receptor binding")


def test_term_counts_include_descendants(corpus):
    terms = corpus.go_terms
    n_genes = dict(zip(terms["id"], terms["n_genes"], strict=True))
    # "T cell receptor signaling pathway" is_a "antigen receptor-mediated signaling pathway";
    # GO.sqlite spells the relations "isa" and "part of" (the debian route's canonical names)
    assert n_genes["GO:0050851"] >= n_genes["GO:0050852"]
    # "mitochondrial inner membrane" part_of "mitochondrial envelope"
    assert n_genes["GO:0005740"] >= n_genes["GO:0005743"]


def test_unknown_entrez_is_a_clear_error(corpus):
    with pytest.raises(InputError, match="GeneResolver"):
        corpus.record("999999999")


@pytest.fixture(scope="module")
def bare_corpus():
    """The bundled corpus file read on its own: no summaries attached."""
    from importlib import resources

    with resources.as_file(resources.files("textcell.genes") / "data" / "human.json.gz") as path:
        return GeneCorpus.load(path)


def test_views_render_and_are_versioned(corpus, bare_corpus):
    texts = {name: corpus.render(["916"], view=name)[0] for name in VIEWS}
    assert texts["name"] == "CD3E: CD3 epsilon subunit of T-cell receptor complex"
    assert texts["card"].startswith(
        "CD3E (CD3 epsilon subunit of T-cell receptor complex) is a protein-coding gene at 11q23.3."
    )
    assert "Biological process:" in texts["card"]
    assert texts["summary"].startswith("CD3E (CD3 epsilon subunit of T-cell receptor complex): The protein")
    assert bare_corpus.render(["916"], view="summary") == bare_corpus.render(["916"], view="card")
    assert get_view("card").id == "card@1"
    assert get_view("function").id == "function@1"
    assert get_view("card@1") is get_view("card")
    with pytest.raises(InputError, match="valid views: name@1, card@1"):
        get_view("abstract")
    with pytest.raises(InputError, match="Unknown text view"):
        get_view("card@7")


def test_function_view_leads_with_what_the_gene_does_and_masks_its_names(corpus, resolver):
    entrez = resolver.resolve(["CD3E", "CD19"], species="human").table["entrez"].tolist()
    cd3e, cd19 = corpus.render(entrez, view="function")
    assert cd3e.startswith("The protein encoded by this gene is the CD3-epsilon polypeptide")
    assert "Name: CD3 epsilon subunit of T-cell receptor complex." in cd3e
    assert "Biological process:" in cd3e
    record = corpus.record(entrez[1])
    assert "CVID3" in record.aliases  # the summary and name use the gene's names; the view does not
    assert "CVID3" in record.summary
    assert "Name: this gene molecule." in cd19
    for name in (record.symbol, *record.aliases):
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", cd19) is None
    assert "CD21" in cd19  # other genes' names are knowledge and stay
    assert "CD81" in cd19


def test_function_view_is_empty_for_a_gene_without_summary_or_go(corpus):
    cols = corpus.columns
    bare = [
        e
        for e, t, go in zip(cols["entrez"], cols["type"], cols["go"], strict=True)
        if t == "protein-coding" and not go and e not in corpus.summaries
    ]
    assert len(bare) > 100
    assert corpus.render(bare[:50], view="function") == [""] * 50
    assert all(corpus.render(bare[:50], view="card"))


def test_function_all_view_keeps_every_go_term_where_function_keeps_ten_per_aspect(corpus):
    from textcell.genes.views import MAX_TERMS_PER_ASPECT

    record = corpus.record("916")  # CD3E: more GO terms per aspect than the function view keeps
    assert len(record.go_bp) > MAX_TERMS_PER_ASPECT
    short, full = corpus.render(["916"], view="function")[0], corpus.render(["916"], view="function_all")[0]
    assert get_view("function_all").id == "function_all@1"
    assert full.startswith(short.split(" Biological process:")[0])  # the same summary and masked name
    bp = full.split("Biological process: ")[1].split(". Molecular function")[0].split("; ")
    assert bp == list(record.go_bp)
    assert record.go_bp[-1] not in short
    assert record.go_bp[-1] in full
    assert short.split("Biological process: ")[1].split(".")[0].split("; ") == list(
        record.go_bp[:MAX_TERMS_PER_ASPECT]
    )
    for name in (record.symbol, *record.aliases):
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", full) is None
    cols = corpus.columns
    few = next(
        e
        for e, t, go in zip(cols["entrez"], cols["type"], cols["go"], strict=True)
        if t == "protein-coding" and 0 < len(go) <= 3
    )
    assert corpus.render([few], view="function_all") == corpus.render([few], view="function")
    bare = [
        e
        for e, t, go in zip(cols["entrez"], cols["type"], cols["go"], strict=True)
        if t == "protein-coding" and not go and e not in corpus.summaries
    ]
    assert corpus.render(bare[:20], view="function_all") == [""] * 20


def test_mask_names_replaces_whole_words_only(corpus):
    from textcell.genes.views import mask_names

    record = corpus.record("916")  # CD3E, aliases include T3E and TCRE
    assert "T3E" in record.aliases
    text = "CD3E and T3E bind; CD3E-like and CD3EAP and xT3E stay."
    assert mask_names(text, record) == "this gene and this gene bind; CD3E-like and CD3EAP and xT3E stay."


def test_bundled_corpus_carries_the_refseq_summaries(corpus, bare_corpus, refseq_summaries):
    assert len(corpus.summaries) == 15_136
    assert corpus.summary_source == "RefSeq (bundled)"
    assert "tumor" in corpus.record("7157").summary.lower()
    assert corpus.render(["7157"], view="summary")[0].startswith("TP53 (tumor protein p53): ")
    full_text = corpus.render(["7157"], view="full")[0]
    assert full_text.startswith(corpus.render(["7157"], view="summary")[0])
    assert "Biological process:" in full_text
    assert corpus.version == f"{bare_corpus.version}+summaries-{corpus.version.rsplit('-', 1)[1]}"
    assert bare_corpus.record("7157").summary is None
    with gzip.open(refseq_summaries, "rt") as handle:
        shared = {json.loads(line)["entrez"] for line in handle}
    assert set(corpus.summaries) == shared


def test_attached_summaries_replace_the_bundled_ones_gene_by_gene(corpus):
    mine = corpus.with_summaries({"7157": "A custom summary."})
    assert mine.record("7157").summary == "A custom summary."
    assert mine.record("916").summary == corpus.record("916").summary
    assert len(mine.summaries) == len(corpus.summaries)
    assert mine.version != corpus.version
    assert "tumor" in corpus.record("7157").summary.lower()  # the original is untouched


def test_summaries_build_reproduces_the_shipped_file(refseq_summaries, tmp_path):
    import subprocess
    import sys
    from importlib import resources

    script = Path(__file__).resolve().parents[2] / "scripts" / "build_summaries.py"
    target = tmp_path / "human.summaries.json.gz"
    subprocess.run([sys.executable, str(script), str(refseq_summaries), "-o", str(target)], check=True)
    shipped = resources.files("textcell.genes") / "data" / "human.summaries.json.gz"
    assert target.read_bytes() == shipped.read_bytes()
    manifest = json.loads(manifest_path(target).read_text())
    assert manifest["licences"] == {
        "GeneSummary package": "MIT",
        "RefSeq summaries": "public domain (NCBI, US government work)",
    }
    assert "RefSeq release 220" in manifest["sources"]["RefSeq summaries"]
    assert manifest["counts"]["summaries"] == 15_136


def test_damaged_or_mismatched_summaries_are_clear_errors(corpus, tmp_path):
    from textcell.genes.summaries import read_summaries, write_summaries

    path = tmp_path / "s.json.gz"
    write_summaries({"916": "text"}, path, corpus_sha256=corpus.checksum, species="human", counts={})
    assert read_summaries(path, corpus_sha256=corpus.checksum) == {"916": "text"}
    with pytest.raises(CorpusError, match="matched to another corpus"):
        read_summaries(path, corpus_sha256="0" * 64)
    write_summaries(
        {"916": "other"}, tmp_path / "t.json.gz", corpus_sha256=corpus.checksum, species="human", counts={}
    )
    path.write_bytes((tmp_path / "t.json.gz").read_bytes())  # content and manifest disagree
    with pytest.raises(CorpusError, match="manifest checksum"):
        read_summaries(path, corpus_sha256=corpus.checksum)
    path.write_bytes(b"garbage")
    with pytest.raises(CorpusError, match="corrupt"):
        read_summaries(path, corpus_sha256=corpus.checksum)


def test_summaries_from_tsv_keyed_by_symbol(corpus, tmp_path):
    path = tmp_path / "summaries.tsv"
    path.write_text("symbol\tsummary\nCD3E\tPart of the T-cell receptor complex.\n")
    assert corpus.with_summaries(path).record("916").summary == "Part of the T-cell receptor complex."
    bad = tmp_path / "bad.tsv"
    bad.write_text("gene\ttext\nCD3E\tsomething\n")
    with pytest.raises(InputError, match="'summary' column"):
        corpus.with_summaries(bad)


@pytest.fixture
def bundled_copy(tmp_path, corpus):
    from importlib import resources

    src = resources.files("textcell.genes") / "data"
    for name in ("human.json.gz", "human.manifest.json"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    return tmp_path / "human.json.gz"


def test_copy_of_bundled_corpus_loads(bundled_copy, corpus):
    assert GeneCorpus.load(bundled_copy).checksum == corpus.checksum


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip", "not_json", "wrong_format"])
def test_corrupt_corpus_file_is_a_clear_error(bundled_copy, damage):
    data = bundled_copy.read_bytes()
    if damage == "truncate":
        bundled_copy.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        bundled_copy.write_bytes(b"<html>not found</html>")
    elif damage == "flip":  # valid gzip, different content: caught by the manifest checksum
        doc = json.loads(gzip.decompress(data))
        doc["genes"]["symbol"][0] = "XXXX"
        bundled_copy.write_bytes(gzip.compress(json.dumps(doc).encode()))
    elif damage == "not_json":
        bundled_copy.write_bytes(gzip.compress(b"{not json"))
    else:
        manifest_path(bundled_copy).unlink()
        bundled_copy.write_bytes(gzip.compress(json.dumps({"format": "other"}).encode()))
    with pytest.raises(CorpusError, match="textcell corpus build"):
        GeneCorpus.load(bundled_copy)


def test_missing_corpus_file(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        GeneCorpus.load(tmp_path / "nope.json.gz")
