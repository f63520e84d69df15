import numpy as np
import pytest

from textcell._defaults import DEFAULT_VIEW
from textcell.embed import GeneEmbeddings, RandomEmbedder
from textcell.errors import InputError


@pytest.fixture(scope="module")
def embeddings(corpus):
    return GeneEmbeddings.build(
        ["CD3E", "CD3D", "ALB", "HER2", "ENSG00000141510", "CD16", "XYZ"],
        model=RandomEmbedder(dim=32),
        corpus=corpus,
    )


def test_build_resolves_and_reports_missing(embeddings):
    assert embeddings.symbols == ["CD3E", "CD3D", "ALB", "ERBB2", "TP53"]
    assert set(embeddings.provenance["missing"]) == {"CD16", "XYZ"}
    assert embeddings.provenance["view"] == f"{DEFAULT_VIEW}@1"
    assert embeddings.matrix.dtype == np.float32


def test_lookup_through_the_resolver(embeddings):
    assert np.array_equal(embeddings.vector("HER2"), embeddings.vector("ERBB2"))
    assert np.array_equal(embeddings.vector("7157"), embeddings.vector("TP53"))
    with pytest.raises(InputError, match="No embedding for gene 'CD19'"):
        embeddings.vector("CD19")


def test_most_similar_excludes_the_gene_and_is_sorted(embeddings):
    table = embeddings.most_similar("CD3E", k=3)
    assert "CD3E" not in set(table["symbol"])
    assert list(table["cosine"]) == sorted(table["cosine"], reverse=True)
    assert table["cosine"].iloc[0] == pytest.approx(embeddings.cosine("CD3E", table["symbol"].iloc[0]))


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_save_load_round_trip_is_exact(embeddings, tmp_path, suffix):
    path = embeddings.save(tmp_path / f"genes{suffix}")
    back = GeneEmbeddings.load(path)
    assert np.array_equal(back.matrix, embeddings.matrix)
    assert back.entrez == embeddings.entrez
    assert back.symbols == embeddings.symbols
    assert back.provenance == embeddings.provenance


def test_save_refuses_pickle_formats(embeddings, tmp_path):
    with pytest.raises(InputError, match=r"\.npz or \.parquet"):
        embeddings.save(tmp_path / "genes.pkl")


def test_aligned_puts_zeros_where_absent(embeddings):
    matrix, found = embeddings.aligned(["916", "12345678", "7157"])
    assert found.tolist() == [True, False, True]
    assert not matrix[1].any()


def test_for_genes_resolves_any_identifiers(embeddings):
    matrix, found = embeddings.for_genes(["ENSG00000141510", "HER2", "CD19"])
    assert found.tolist() == [True, True, False]
    assert np.array_equal(matrix[1], embeddings.vector("ERBB2"))
