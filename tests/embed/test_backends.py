"""Registry, TF-IDF, random, precomputed tables and combinations (no neural model needed)."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from textcell.embed import (
    CombinedEmbedder,
    GeneEmbeddings,
    PrecomputedEmbeddings,
    RandomEmbedder,
    TfidfEmbedder,
    available,
    get_embedder,
)
from textcell.errors import InputError


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(InputError, match=r"Valid names: .*all-minilm-l6-v2.*tfidf:\.\.\."):
        get_embedder("word2vec")


def test_names_specs_and_instances_resolve():
    assert get_embedder("minilm").model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert get_embedder("local:some/model").model_id == "some/model"
    assert get_embedder("biobert").model_id == "dmis-lab/biobert-base-cased-v1.2"
    assert get_embedder("text-embedding-3-small").dim == 1536
    assert get_embedder("random:32").dim == 32
    instance = RandomEmbedder(dim=8)
    assert get_embedder(instance) is instance
    assert "tfidf:..." in available()


def test_random_control_is_deterministic_per_text():
    a, b = RandomEmbedder(dim=64), RandomEmbedder(dim=64)
    v = a.embed_batch(["CD3E card", "ALB card"])
    assert np.array_equal(v, b.embed_batch(["CD3E card", "ALB card"]))
    assert abs(float(v[0] @ v[1])) < 0.5
    assert RandomEmbedder(dim=64, seed=2).fingerprint() != a.fingerprint()


def test_tfidf_is_deterministic_and_meaningful(corpus, tmp_path, monkeypatch):
    import textcell

    genes = ["CD3E", "CD3D", "ALB", "CD19", "CD79A", "APOA1"]
    tfidf = TfidfEmbedder(corpus=corpus, view="card", dim=64)
    emb = GeneEmbeddings.build(genes, model=tfidf, corpus=corpus, cache=False)
    monkeypatch.setattr(textcell.settings, "cache_dir", tmp_path)  # forces a second, independent fit
    refit = TfidfEmbedder(corpus=corpus, view="card", dim=64)
    assert np.array_equal(
        emb.matrix, GeneEmbeddings.build(genes, model=refit, corpus=corpus, cache=False).matrix
    )
    assert list(tmp_path.glob("models/tfidf-*.npz"))
    assert emb.cosine("CD3E", "CD3D") > emb.cosine("CD3E", "ALB")
    assert emb.cosine("ALB", "APOA1") > emb.cosine("ALB", "CD79A")
    assert emb.dim == 64
    assert TfidfEmbedder(corpus=corpus, view="name", dim=64).fingerprint() != tfidf.fingerprint()


@pytest.fixture
def genept_table(tmp_path):
    rng = np.random.default_rng(0)
    genes = ["AARS", "TP53", "CD3E", "NOT_A_GENE", "MS4A1"]  # GenePT keys by 2023 symbols
    return {g: rng.standard_normal(12).tolist() for g in genes}


def _write(table, path):
    if path.suffix == ".json":
        path.write_text(json.dumps(table))
    elif path.suffix in (".csv", ".tsv"):
        pd.DataFrame(table).T.to_csv(path, sep="," if path.suffix == ".csv" else "\t")
    elif path.suffix == ".npz":
        np.savez(path, genes=np.array(list(table)), vectors=np.array(list(table.values())))
    elif path.suffix == ".parquet":
        pd.DataFrame({"gene": list(table), "vector": list(table.values())}).to_parquet(path)
    else:
        path.write_bytes(pickle.dumps(table))
    return path


@pytest.mark.parametrize("suffix", [".json", ".csv", ".tsv", ".npz", ".parquet"])
def test_tables_import_and_resolve_renamed_symbols(genept_table, tmp_path, suffix, corpus):
    path = _write(genept_table, tmp_path / f"genept{suffix}")
    table = PrecomputedEmbeddings(path, corpus=corpus)
    assert table.dim == 12
    assert table.coverage.unmatched == ["NOT_A_GENE"]
    emb = GeneEmbeddings.build(["AARS1", "TP53", "CD19"], model=f"precomputed:{path}", corpus=corpus)
    assert emb.symbols == ["AARS1", "TP53"]
    assert "CD19" in emb.provenance["missing"]
    np.testing.assert_allclose(emb.vector("AARS1"), genept_table["AARS"], rtol=1e-6)


def test_pickle_needs_explicit_trust(genept_table, tmp_path, corpus):
    path = _write(genept_table, tmp_path / "GenePT_gene_embedding_ada_text.pickle")
    with pytest.raises(InputError, match="trusted=True"):
        PrecomputedEmbeddings(path, corpus=corpus)
    assert PrecomputedEmbeddings(path, trusted=True, corpus=corpus).dim == 12


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "Could not read"),
        (b'{"TP53": [1, 2], "CD3E": [1]}', "Could not read"),
        (b'{"TP53": [NaN, 1.0]}', "NaN"),
    ],
)
def test_bad_tables_fail_clearly(tmp_path, content, message, corpus):
    path = tmp_path / "table.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        PrecomputedEmbeddings(path, corpus=corpus)


def test_combined_concat_and_mean(genept_table, tmp_path, corpus):
    path = _write(genept_table, tmp_path / "genept.json")
    concat = CombinedEmbedder([f"precomputed:{path}", RandomEmbedder(dim=8)], corpus=corpus, view="card")
    emb = GeneEmbeddings.build(["TP53", "CD3E", "CD19"], model=concat, corpus=corpus)
    assert emb.dim == 20
    assert emb.symbols == ["TP53", "CD3E"]  # CD19 is not in the table
    np.testing.assert_allclose(np.linalg.norm(emb.matrix[:, :12], axis=1), 1, rtol=1e-5)
    mean = CombinedEmbedder([RandomEmbedder(dim=8, seed=1), RandomEmbedder(dim=8, seed=2)], mode="mean")
    assert mean.dim == 8
    assert mean.fingerprint() != concat.fingerprint()
    with pytest.raises(InputError, match="equal dimension"):
        CombinedEmbedder([RandomEmbedder(dim=8), RandomEmbedder(dim=4)], mode="mean")
    assert get_embedder("combined:random:8+random:4").dim == 12
