import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from matplotlib.figure import Figure

import textcell
from textcell import pl
from textcell.bench.cells import prepare
from textcell.errors import InputError
from textcell.tl import programs as tp


@pytest.fixture(scope="module")
def kang(shared_data):
    """2,500 Kang PBMC cells (counts), HVGs, tfidf vectors of the GO-free ``name`` view."""
    adata = ad.read_h5ad(shared_data / "cells" / "kang2018_pbmc.h5ad")
    keep = np.random.default_rng(0).choice(adata.n_obs, 2500, replace=False)
    adata = prepare(adata[np.sort(keep)].copy())
    textcell.tl.embed_genes(adata, model="tfidf", view="name")
    return adata


@pytest.fixture(scope="module")
def programs(kang):
    return textcell.tl.gene_programs(kang, groupby="cell_type", copy=True)


def _program_of(adata, genes, key="textcell_programs"):
    column = adata.var[key]
    return column[column.index.isin(genes)]


def test_programs_cover_the_hvgs_and_keep_gene_families_together(programs):
    column = programs.var["textcell_programs"]
    result = programs.uns["textcell_programs"]
    hvg = programs.var["highly_variable"].to_numpy()
    assert column[~hvg].isna().all()  # only the chosen genes get a program
    sizes = column.value_counts()
    assert (sizes >= 5).all()
    assert list(sizes.index) == list(result["names"])  # named by decreasing size
    for name, genes in result["programs"].items():
        assert set(genes) == set(column.index[column == name])
    ribosomal = [g for g in programs.var_names[hvg] if g.startswith(("RPL", "RPS")) and g[3:].isdigit()]
    assert len(ribosomal) >= 10
    shares = _program_of(programs, ribosomal).value_counts(normalize=True)
    assert shares.iloc[0] >= 0.8  # ribosomal proteins share a program


def test_scores_are_scanpys_score_genes_and_activity_their_group_means(kang, programs):
    result = programs.uns["textcell_programs"]
    scores = programs.obsm["textcell_programs_scores"]
    assert scores.shape == (kang.n_obs, len(result["names"]))
    lognorm = ad.AnnData(kang.layers["lognorm"], obs=kang.obs[[]], var=pd.DataFrame(index=kang.var_names))
    sc.tl.score_genes(lognorm, list(result["programs"]["P2"]), random_state=0, ctrl_size=50)
    np.testing.assert_allclose(scores[:, 1], lognorm.obs["score"], atol=1e-5)
    activity = result["activity"]
    groups = programs.obs["cell_type"].astype(str).to_numpy()
    column = list(activity["groups"]).index("NK cells")
    nk = scores[groups == "NK cells"].mean(axis=0)
    np.testing.assert_allclose(activity["mean_score"][:, column], nk, rtol=1e-5)


def test_mhc_class_ii_program_is_most_active_in_antigen_presenting_cells(programs):
    activity = programs.uns["textcell_programs"]["activity"]
    program = programs.var.loc["HLA-DRA", "textcell_programs"]
    row = list(activity["programs"]).index(program)
    assert activity["top_group"][row] in ("B cells", "CD14+ Monocytes")


def test_validation_against_go_with_a_matched_coexpression_baseline(programs):
    validation = programs.uns["textcell_programs"]["validation"]
    assert validation["view"] == "name"
    assert validation["n_go_in_text"] == 0
    text, baseline = validation["text"], validation["coexpression"]
    assert baseline["n_programs"] == text["n_programs"]
    table = text["enrichment"]
    assert (table["q"] < 0.05).all()
    assert (table["overlap"] >= 1).all()
    assert text["n_enriched"] == table["set"].nunique() >= 5
    ribosome = table[table["genes"].str.contains("RPL")]
    assert not ribosome.empty


def test_go_in_the_texts_refuses_validation(kang):
    adata = kang.copy()
    textcell.tl.embed_genes(adata, model="tfidf", view="card", key_added="card")
    with pytest.raises(InputError, match="GO terms"):
        textcell.tl.gene_programs(adata, genes_key="card", validate=True)
    textcell.tl.gene_programs(adata, genes_key="card")  # auto: skipped, not validated
    assert "validation" not in adata.uns["textcell_programs"]


def test_summary_view_leaves_out_genes_whose_text_fell_back_to_the_card(kang, corpus, refseq_summaries):
    adata = kang.copy()
    with_summaries = corpus.with_summaries(refseq_summaries)
    textcell.tl.embed_genes(adata, model="tfidf", view="summary", corpus=with_summaries, key_added="summary")
    textcell.tl.gene_programs(adata, genes_key="summary", corpus=with_summaries)
    validation = adata.uns["textcell_programs"]["validation"]
    chosen = adata.var["highly_variable"] & adata.var["summary_has_embedding"]
    without = ~adata.var.loc[chosen, "summary_entrez"].isin(list(with_summaries.summaries))
    assert validation["n_go_in_text"] == without.sum() > 0
    assert validation["n_universe"] == chosen.sum() - without.sum()
    with pytest.raises(InputError, match="summaries"):  # the corpus the vectors were not made from
        textcell.tl.gene_programs(adata, genes_key="summary", corpus=corpus, validate=True)


def test_result_survives_h5ad_and_copy_leaves_the_input_alone(kang, programs, tmp_path):
    assert "textcell_programs" not in kang.var
    assert "textcell_programs" not in kang.uns
    programs.write_h5ad(tmp_path / "p.h5ad")
    back = ad.read_h5ad(tmp_path / "p.h5ad")
    result, original = back.uns["textcell_programs"], programs.uns["textcell_programs"]
    assert back.var["textcell_programs"].equals(programs.var["textcell_programs"])
    pd.testing.assert_frame_equal(
        result["validation"]["text"]["enrichment"], original["validation"]["text"]["enrichment"]
    )
    assert list(result["programs"]["P1"]) == list(original["programs"]["P1"])
    assert result["params"]["gene_view"] == "name@1"


def test_heatmap_has_a_row_per_program(programs):
    figure = pl.program_heatmap(programs)
    assert isinstance(figure, Figure)
    axis = figure.axes[0]
    assert len(axis.get_yticklabels()) == len(programs.uns["textcell_programs"]["names"])
    assert [t.get_text() for t in axis.get_xticklabels()] == sorted(programs.obs["cell_type"].unique())
    with pytest.raises(InputError, match="groupby"):
        pl.program_heatmap(textcell.tl.gene_programs(programs, validate=False, copy=True))


def test_threshold_graph_has_the_requested_mean_degree(kang):
    vectors = kang.varm["textcell"][kang.var["highly_variable"].to_numpy()]
    n = len(vectors)
    graph, threshold = tp.similarity_graph(tp.cosine_similarity_blocks(vectors), n, method="threshold")
    assert abs(2 * graph.ecount() / n - 10) < 1.0
    higher, _ = tp.similarity_graph(
        tp.cosine_similarity_blocks(vectors), n, method="threshold", threshold=threshold + 0.1
    )
    assert higher.ecount() < graph.ecount()
    knn, none = tp.similarity_graph(tp.cosine_similarity_blocks(vectors), n, n_neighbors=5)
    assert none is None
    assert min(knn.degree()) >= 5


def test_correlation_blocks_equal_numpy(kang):
    expression = kang.layers["lognorm"][:, :60]
    correlation = np.vstack([block for _, block in tp.correlation_blocks(expression)])
    dense = expression.toarray()
    expected = np.nan_to_num(np.corrcoef(dense.T))
    np.testing.assert_allclose(correlation, expected, atol=1e-5)


def test_matched_leiden_reaches_the_target_count(kang):
    expression = kang.layers["lognorm"][:, kang.var["highly_variable"].to_numpy()]
    graph, _ = tp.similarity_graph(tp.correlation_blocks(expression), expression.shape[1])
    labels, resolution = tp.leiden_matched(graph, 12, seed=0)
    assert tp.n_programs(labels) == 12
    assert resolution > 0


def test_bad_inputs_say_what_to_do(kang):
    bare = ad.AnnData(kang.X, obs=kang.obs, var=kang.var[[]])
    with pytest.raises(InputError, match="embed_genes"):
        textcell.tl.gene_programs(bare)
    no_hvg = kang.copy()
    del no_hvg.var["highly_variable"]
    with pytest.raises(InputError, match="highly_variable_genes"):
        textcell.tl.gene_programs(no_hvg)
    with pytest.raises(InputError, match="not in var_names"):
        textcell.tl.gene_programs(kang, genes=["CD3E", "NOT_A_GENE"], copy=True)
    with pytest.raises(InputError, match="method"):
        textcell.tl.gene_programs(kang, method="spectral", copy=True)
