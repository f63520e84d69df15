import gzip
import json

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
    assert cd3e.summary is None


def test_go_terms_most_informative_first(corpus):
    terms = corpus.record("916").go_mf
    # "protein binding" is carried by most genes and must come after specific terms
    assert terms.index("protein binding") > terms.index("T cell receptor binding")


def test_unknown_entrez_is_a_clear_error(corpus):
    with pytest.raises(InputError, match="GeneResolver"):
        corpus.record("999999999")


def test_views_render_and_are_versioned(corpus):
    texts = {name: corpus.render(["916"], view=name)[0] for name in VIEWS}
    assert texts["name"] == "CD3E: CD3 epsilon subunit of T-cell receptor complex"
    assert texts["card"].startswith(
        "CD3E (CD3 epsilon subunit of T-cell receptor complex) is a protein-coding gene at 11q23.3."
    )
    assert "Biological process:" in texts["card"]
    assert texts["summary"] == texts["card"]  # no summary attached: falls back to the card
    assert get_view("card").id == "card@1"
    assert get_view("card@1") is get_view("card")
    with pytest.raises(InputError, match="valid views: name@1, card@1"):
        get_view("abstract")
    with pytest.raises(InputError, match="Unknown text view"):
        get_view("card@7")


def test_refseq_summaries_attach_and_change_the_version(corpus, refseq_summaries):
    with_summaries = corpus.with_summaries(refseq_summaries)
    assert len(with_summaries.summaries) > 15_000 * 0.95
    tp53 = with_summaries.record("7157")
    assert "tumor" in tp53.summary.lower()
    summary_text = with_summaries.render(["7157"], view="summary")[0]
    assert summary_text.startswith("TP53 (tumor protein p53): ")
    full_text = with_summaries.render(["7157"], view="full")[0]
    assert full_text.startswith(summary_text)
    assert "Biological process:" in full_text
    assert with_summaries.version != corpus.version
    assert corpus.record("7157").summary is None  # the original is untouched


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
