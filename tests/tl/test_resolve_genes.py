import anndata as ad
import numpy as np
import pytest

import textcell
from textcell.errors import GeneIdError, InputError


@pytest.fixture(scope="module")
def pbmc():
    return textcell.datasets.pbmc68k_reduced()


def test_results_go_into_var_and_uns_and_survive_h5ad(pbmc, tmp_path):
    adata = pbmc.copy()
    assert textcell.tl.resolve_genes(adata) is None
    var = adata.var
    assert var.loc["CD3E", "textcell_genes_symbol"] == "CD3E"
    assert set(var["textcell_genes_route"]) >= {"symbol", "synonym", "unmatched"}
    uns = adata.uns["textcell_genes"]
    assert uns["params"]["corpus_version"] == textcell.genes.GeneCorpus.load().version
    assert uns["params"]["textcell_version"] == textcell.__version__
    coverage = uns["coverage"]
    # X is scaled here, so the expression figure comes from the log-normalised .raw
    assert 0.95 < coverage["expression_fraction"] <= 1
    assert coverage["n_matched"] == (var["textcell_genes_entrez"] != "").sum()

    adata.write_h5ad(tmp_path / "out.h5ad")
    back = ad.read_h5ad(tmp_path / "out.h5ad")
    assert back.uns["textcell_genes"]["coverage"]["routes"] == coverage["routes"]
    assert back.var["textcell_genes_entrez"].tolist() == var["textcell_genes_entrez"].tolist()


def test_copy_leaves_the_input_alone(pbmc):
    out = textcell.tl.resolve_genes(pbmc, copy=True, key_added="genes")
    assert "genes_entrez" in out.var
    assert "genes" not in pbmc.uns
    assert "genes_entrez" not in pbmc.var


def test_duplicated_var_names_fail_clearly():
    adata = ad.AnnData(np.ones((3, 3), dtype=np.float32))
    adata.var_names = ["CD3E", "CD3E", "MS4A1"]
    with pytest.raises(GeneIdError, match="var_names_make_unique"):
        textcell.tl.resolve_genes(adata)
    assert "textcell_genes" not in adata.uns


def test_default_integer_var_names_fail_clearly():
    adata = ad.AnnData(np.ones((3, 20), dtype=np.float32))
    with pytest.raises(GeneIdError, match="row numbers"):
        textcell.tl.resolve_genes(adata)


def test_unknown_layer_lists_the_layers(pbmc):
    with pytest.raises(InputError, match="available layers"):
        textcell.tl.resolve_genes(pbmc, layer="counts", copy=True)


def test_nan_expression_fails_clearly():
    adata = ad.AnnData(np.array([[1.0, np.nan], [2.0, 3.0]], dtype=np.float32))
    adata.var_names = ["CD3E", "MS4A1"]
    with pytest.raises(InputError, match="NaN"):
        textcell.tl.resolve_genes(adata)


def test_backed_file_gives_the_same_coverage_in_chunks(shared_data, monkeypatch):
    from textcell import _validation

    path = shared_data / "cells" / "pbmc_3tech.h5ad"
    in_memory = textcell.tl.resolve_genes(ad.read_h5ad(path), copy=True).uns["textcell_genes"]
    monkeypatch.setattr(_validation, "CHUNK_ROWS", 300)
    backed = ad.read_h5ad(path, backed="r")
    textcell.tl.resolve_genes(backed)
    coverage = backed.uns["textcell_genes"]["coverage"]
    assert coverage["expression_fraction"] == pytest.approx(in_memory["coverage"]["expression_fraction"])
    assert coverage["expression_fraction"] >= 0.95
