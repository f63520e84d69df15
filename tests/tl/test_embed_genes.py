import anndata as ad
import numpy as np
import pytest

import textcell
from textcell.embed import RandomEmbedder


@pytest.fixture(scope="module")
def pbmc():
    return textcell.datasets.pbmc68k_reduced()


def test_embed_genes_writes_varm_var_and_provenance(pbmc, tmp_path):
    adata = pbmc.copy()
    textcell.tl.embed_genes(adata, model="tfidf:64", view="card")
    matrix = adata.varm["textcell"]
    has = adata.var["textcell_has_embedding"].to_numpy()
    assert matrix.shape == (adata.n_vars, 64)
    assert has.sum() == (adata.var["textcell_entrez"] != "").sum()
    assert not matrix[~has].any()
    assert np.allclose(np.linalg.norm(matrix[has], axis=1), 1, atol=1e-5)
    params = adata.uns["textcell"]["params"]
    assert params["model"] == "tfidf-lsa-64"
    assert params["view"] == "card@1"
    assert params["n_embedded"] + params["n_missing"] == adata.n_vars
    adata.write_h5ad(tmp_path / "out.h5ad")
    back = ad.read_h5ad(tmp_path / "out.h5ad")
    assert np.array_equal(back.varm["textcell"], matrix)
    assert back.uns["textcell"]["params"]["fingerprint"] == params["fingerprint"]


def test_same_gene_under_two_names_gets_the_same_vector():
    adata = ad.AnnData(np.ones((2, 3), dtype=np.float32))
    adata.var_names = ["ERBB2", "HER2", "CD3E"]
    textcell.tl.embed_genes(adata, model=RandomEmbedder(dim=8))
    assert np.array_equal(adata.varm["textcell"][0], adata.varm["textcell"][1])


def test_copy_and_key_added(pbmc):
    out = textcell.tl.embed_genes(pbmc, model=RandomEmbedder(dim=8), key_added="rnd", copy=True)
    assert out.varm["rnd"].shape == (pbmc.n_vars, 8)
    assert "rnd" not in pbmc.varm


def test_precomputed_gene_embeddings_go_into_varm(pbmc, corpus):
    from textcell.embed import GeneEmbeddings

    genes = GeneEmbeddings.build(["CD3E", "MS4A1", "LYZ"], model=RandomEmbedder(dim=8), corpus=corpus)
    out = textcell.tl.embed_genes(pbmc, model=genes, copy=True)
    assert out.var["textcell_has_embedding"].sum() == 3
    assert np.array_equal(out.varm["textcell"][out.var_names.get_loc("MS4A1")], genes.vector("MS4A1"))
    assert out.uns["textcell"]["params"]["backend"] == "gene_embeddings"
