import anndata as ad
import numpy as np
import pandas as pd
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
    from textcell import _expression

    path = shared_data / "cells" / "pbmc_3tech.h5ad"
    in_memory = textcell.tl.resolve_genes(ad.read_h5ad(path), copy=True).uns["textcell_genes"]
    monkeypatch.setattr(_expression, "CHUNK_ROWS", 300)
    backed = ad.read_h5ad(path, backed="r")
    textcell.tl.resolve_genes(backed)
    coverage = backed.uns["textcell_genes"]["coverage"]
    assert coverage["expression_fraction"] == pytest.approx(in_memory["coverage"]["expression_fraction"])
    assert coverage["expression_fraction"] >= 0.95


# ---------------------------------------------------------------- Ensembl var_names, symbol column
# Real Ensembl genes the corpus has no Ensembl link for (Ensembl's own names, from Geneformer's
# gene table): known to the corpus by symbol, or not at all (clone-named lncRNAs).
BY_SYMBOL_ONLY = {
    "ENSG00000170919": "TPT1-AS1",
    "ENSG00000180867": "PDIA3P1",
    "ENSG00000197794": "IGKV7-3",
    "ENSG00000200084": "SNORD68",
}
UNKNOWN = {"ENSG00000257764": "AC020656.1", "ENSG00000266311": "AC007952.4"}


@pytest.fixture(scope="module")
def ensembl_named(corpus):
    """Every protein-coding gene of the corpus under its (lowest) Ensembl ID, as a 10x file
    names them, with the symbols in var['feature_name'] (as CELLxGENE files do), plus
    mitochondrial RNA genes and genes the corpus knows only by symbol; Poisson counts."""
    cols = corpus.columns
    rows = {}
    for ensembl, symbol, gene_type in zip(cols["ensembl"], cols["symbol"], cols["type"], strict=True):
        if gene_type == "protein-coding" and ensembl:
            rows.setdefault(min(ensembl), symbol)
    rows.update({"ENSG00000210082": "MT-RNR2", "ENSG00000210049": "MT-TF"})
    rows.update(BY_SYMBOL_ONLY)
    rows.update(UNKNOWN)
    rows["ENSG00000108379"] = None  # WNT3, with no symbol in the file
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.2, size=(50, len(rows))).astype(np.float32)
    names = list(rows)
    counts[:, names.index("ENSG00000210082")] = 500  # MT-RNR2 is among the most expressed
    adata = ad.AnnData(counts)
    adata.var_names = names
    adata.var["feature_name"] = pd.Categorical(list(rows.values()))
    return adata


def test_ensembl_names_fall_back_to_the_symbol_column(ensembl_named, corpus):
    adata = ensembl_named.copy()
    textcell.tl.resolve_genes(adata)
    var = adata.var
    route, symbol = var["textcell_genes_route"], var["textcell_genes_symbol"]
    # mitochondrial RNA genes, through the Ensembl IDs NCBI's links lack
    assert symbol[["ENSG00000210082", "ENSG00000210049"]].tolist() == ["RNR2", "TRNF"]
    assert set(route[["ENSG00000210082", "ENSG00000210049"]]) == {"ensembl"}
    # DAXX's ID is shared with SMIM40: the file's symbol settles it
    assert (route["ENSG00000204209"], symbol["ENSG00000204209"]) == ("var_symbol", "DAXX")
    # WNT3 has no symbol in the file: the protein-coding rule settles it
    assert (route["ENSG00000108379"], symbol["ENSG00000108379"]) == ("ensembl_protein_coding", "WNT3")
    for ensembl, name in BY_SYMBOL_ONLY.items():
        assert (route[ensembl], symbol[ensembl]) == ("var_symbol", name)
    assert set(route[list(UNKNOWN)]) == {"unmatched"}

    uns = adata.uns["textcell_genes"]
    assert uns["params"]["symbol_column"] == "feature_name"
    coverage = uns["coverage"]
    assert coverage["symbol_column"] == "var['feature_name']"
    assert (
        coverage["routes"] == route.value_counts().drop(["unmatched", "ambiguous"], errors="ignore").to_dict()
    )
    assert coverage["routes"]["ensembl"] >= 0.99 * len(route)  # the protein-coding genome
    assert coverage["unmatched"] == list(UNKNOWN)
    totals = adata.X.sum(axis=0)
    assert coverage["expression_fraction"] == pytest.approx(
        totals[(var["textcell_genes_entrez"] != "")].sum() / totals.sum()
    )
    text = str(textcell.genes.CoverageReport.from_dict(coverage))
    for line in ("ensembl_protein_coding", "var_symbol", "(fallback to the symbols in var['feature_name'])"):
        assert line in text

    # the same file without the fallback: DAXX and the symbol-only genes are lost
    alone = textcell.tl.resolve_genes(ensembl_named, symbol_column=None, copy=True)
    lost = alone.var["textcell_genes_route"]
    assert lost["ENSG00000204209"] == "ambiguous"
    assert set(lost[list(BY_SYMBOL_ONLY)]) == {"unmatched"}
    assert alone.uns["textcell_genes"]["params"]["symbol_column"] == ""
    assert "var_symbol" not in alone.uns["textcell_genes"]["coverage"]["routes"]
    # the column is read only for IDs that do not resolve on their own
    assert set(lost[route == "var_symbol"]) == {"unmatched", "ambiguous", "ensembl_protein_coding"}
    assert (lost == route)[~route.isin(["var_symbol", "unmatched", "ambiguous"])].all()
    gained = coverage["n_matched"] - alone.uns["textcell_genes"]["coverage"]["n_matched"]
    assert (
        gained == lost.isin(["unmatched", "ambiguous"]).sum() - route.isin(["unmatched", "ambiguous"]).sum()
    )
    assert gained >= len(BY_SYMBOL_ONLY) + 1


def test_symbol_column_by_name_and_bad_name(ensembl_named):
    adata = ensembl_named.copy()
    adata.var["gene_symbols"] = adata.var["feature_name"]
    textcell.tl.resolve_genes(adata, symbol_column="gene_symbols")
    assert adata.uns["textcell_genes"]["params"]["symbol_column"] == "gene_symbols"
    with pytest.raises(InputError, match=r"var\['gene'\] not found"):
        textcell.tl.resolve_genes(adata, symbol_column="gene", copy=True)


@pytest.mark.parametrize(
    ("columns", "found"),
    [
        ({"gene_ids": "ids", "Symbol": "sym"}, "Symbol"),  # any case
        ({"feature_name": "sym", "gene_symbols": "sym"}, "gene_symbols"),  # the preferred one
        ({"features": "ids"}, None),  # a column of Ensembl IDs is no symbol column
        ({"gene_name": "numbers"}, None),
    ],
)
def test_symbol_column_detection(columns, found):
    from textcell.tl.resolve_genes import find_symbol_column

    ids = ["ENSG00000141510", "ENSG00000105383", "ENSG00000010610"]
    values = {"ids": ids, "sym": ["TP53", "CD33", "CD4"], "numbers": [1, 2, 3]}
    var = pd.DataFrame({c: values[v] for c, v in columns.items()}, index=ids)
    assert find_symbol_column(var) == found
    # symbol var_names never fall back by default
    assert find_symbol_column(var.set_index(pd.Index(["TP53", "CD33", "CD4"]))) is None


def test_embed_genes_and_cli_use_the_symbol_column(ensembl_named, tmp_path, capsys):
    from textcell.cli import main

    adata = ensembl_named.copy()
    textcell.tl.embed_genes(adata, model=textcell.embed.RandomEmbedder(dim=8), cache=False)
    assert adata.var.loc["ENSG00000204209", "textcell_has_embedding"]
    assert adata.uns["textcell"]["coverage"]["symbol_column"] == "var['feature_name']"

    path = tmp_path / "ensembl.h5ad"
    ensembl_named.write_h5ad(path)
    assert main(["genes", "resolve", str(path)]) == 0
    out = capsys.readouterr().out
    assert "var_symbol" in out
    assert "var['feature_name']" in out


def test_pbmc_3tech_under_ensembl_ids_loses_no_coverage(shared_data):
    """pbmc_3tech renamed to Ensembl IDs (Ensembl's own symbol→ID table) with its symbols in
    var['symbol'] resolves at least as well as under its symbols; without the fallback it does not."""
    ensembl = pd.read_csv(shared_data / "genes" / "tasks" / "gene_types.csv.gz")
    ensembl = ensembl.drop_duplicates("symbol", keep=False).set_index("symbol")["ensembl_id"]
    adata = ad.read_h5ad(shared_data / "cells" / "pbmc_3tech.h5ad")
    adata = adata[:, adata.var_names.isin(ensembl.index)].copy()
    by_symbol = textcell.tl.resolve_genes(adata, copy=True).uns["textcell_genes"]["coverage"]
    adata.var["symbol"] = adata.var_names.to_numpy()
    adata.var_names = ensembl[adata.var_names].to_numpy()
    with_column = textcell.tl.resolve_genes(adata, copy=True).uns["textcell_genes"]["coverage"]
    alone = textcell.tl.resolve_genes(adata, symbol_column=None, copy=True).uns["textcell_genes"]["coverage"]
    for name, c in [
        ("symbols", by_symbol),
        ("Ensembl IDs", alone),
        ("Ensembl IDs + var['symbol']", with_column),
    ]:
        print(f"{name}: {c['n_matched']} of {c['n_total']}, expression {c['expression_fraction']:.2%}")
    assert adata.n_vars > 8000
    assert with_column["n_matched"] >= by_symbol["n_matched"] > alone["n_matched"]
    assert (
        with_column["expression_fraction"] >= by_symbol["expression_fraction"] > alone["expression_fraction"]
    )
    assert with_column["routes"]["var_symbol"] > 100


@pytest.mark.slow
def test_annotate_on_ensembl_names_reads_the_symbol_column(corpus, resolver):
    """pbmc68k under Ensembl IDs (each gene's lowest one, as in a 10x file) with its symbols in
    raw.var['gene_symbols'] is annotated exactly as under its symbols; without the column, the
    IDs NCBI shares between two protein-coding genes (DAXX's, with SMIM40) would be lost."""
    pbmc = textcell.datasets.pbmc68k_reduced()
    table = resolver.resolve(pbmc.raw.var_names, species="human").table
    ensembl = [
        min(corpus.record(e).ensembl) if e and corpus.record(e).ensembl else q
        for q, e in table["entrez"].items()
    ]
    raw_var = pd.DataFrame({"gene_symbols": pbmc.raw.var_names.to_numpy()}, index=ensembl)
    renamed = pbmc.copy()
    renamed.raw = ad.AnnData(pbmc.raw.X, obs=pbmc.obs[[]], var=raw_var)
    alone = resolver.resolve(ensembl, species="human").table
    lost = raw_var.loc[(alone["route"] == "ambiguous") & alone.index.str.startswith("ENSG"), "gene_symbols"]
    print("ambiguous without the symbol column:", dict(lost))
    assert len(lost) >= 2
    with_column = resolver.resolve(ensembl, species="human", symbols=raw_var["gene_symbols"]).table
    assert set(with_column.loc[lost.index, "route"]) == {"var_symbol"}
    assert with_column.loc[lost.index, "symbol"].tolist() == table.loc[lost, "symbol"].tolist()

    columns = ["textcell_annotation", "textcell_annotation_status"]
    by_symbol = textcell.tl.annotate(pbmc, groupby="bulk_labels", use_raw=True, copy=True).obs[columns]
    by_ensembl = textcell.tl.annotate(renamed, groupby="bulk_labels", use_raw=True, copy=True).obs[columns]
    pd.testing.assert_frame_equal(by_ensembl, by_symbol)
    assert (by_symbol["textcell_annotation_status"] == "verified").any()
