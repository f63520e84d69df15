"""Marker resources load into one tidy table, with their symbols resolved through the GeneResolver."""

import math

import pandas as pd
import pytest

from textcell.errors import InputError
from textcell.markers import COLUMNS, load_markers


@pytest.fixture(scope="module")
def panglaodb_immune(shared_data, resolver):
    return load_markers("panglaodb", tissue=["Immune system", "Blood"], resolver=resolver)


def test_panglaodb_immune_markers(panglaodb_immune):
    table = panglaodb_immune
    assert list(table.columns) == COLUMNS
    assert set(table["source"]) == {"PanglaoDB"}
    b_cells = table[table["cell_type"] == "B cells"]
    assert {"MS4A1", "CD19", "CD79A"} <= set(b_cells["gene"])
    assert b_cells.set_index("gene").loc["CD19", "canonical"]
    weight = b_cells.set_index("gene")["weight"]
    # CD79A: sensitivity 0.98, specificity 0.02 in PanglaoDB's human data; CD2: 0.00 and 0.10
    assert weight["CD79A"] == pytest.approx((0.5 + 0.5 * 0.98) * (1 - 0.02), abs=0.01)
    assert weight["CD2"] == pytest.approx(0.5 * 0.9, abs=0.01)
    assert "Acinar cells" not in set(table["cell_type"])  # the tissue filter
    assert not table.duplicated(["cell_type", "gene", "sign"]).any()


def test_sctype_keeps_negative_markers_and_resolves_aliases(shared_data, resolver):
    table = load_markers("sctype", tissue="immune system", resolver=resolver)
    nk = table[table["cell_type"] == "Natural killer  cells"]
    assert {"CD3D", "CD3E"} <= set(nk.loc[nk["sign"] < 0, "gene"])
    assert "GNLY" in set(nk.loc[nk["sign"] > 0, "gene"])
    naive_b = table[table["cell_type"] == "Naive B cells"]
    assert "MS4A1" in set(naive_b["gene"])  # listed as CD20
    assert table.attrs["unresolved"] > 0  # protein names such as CD45RA are no gene symbols


def test_cellmarker_weights_count_publications(shared_data, resolver):
    table = load_markers("cellmarker", tissue="Blood", resolver=resolver)
    assert table["weight"].min() == 1.0
    assert table["weight"].max() > 1.0
    assert (table["canonical"] == (table["weight"] >= 1 + math.log(3))).all()


def test_user_dict_with_positive_and_negative_markers(resolver):
    table = load_markers(
        {"B": ["CD19", "NOT_A_GENE"], "NK": {"positive": ["CD56", "NKG7"], "negative": ["CD3E"]}},
        resolver=resolver,
    )
    assert table[["cell_type", "gene", "sign"]].values.tolist() == [
        ["B", "CD19", 1],
        ["NK", "NCAM1", 1],  # listed by its alias CD56
        ["NK", "NKG7", 1],
        ["NK", "CD3E", -1],
    ]
    assert table.attrs["unresolved"] == 1
    assert set(table["source"]) == {"user"}


def test_user_table_from_a_file(tmp_path, resolver):
    path = tmp_path / "markers.csv"
    pd.DataFrame({"cell_type": ["T", "T"], "gene": ["CD3E", "CD3D"], "weight": [2.0, 1.0]}).to_csv(
        path, index=False
    )
    table = load_markers(str(path), resolver=resolver)
    assert table.set_index("gene")["weight"].to_dict() == {"CD3D": 1.0, "CD3E": 2.0}


@pytest.mark.parametrize(
    ("markers", "message"),
    [
        ("panglao", "use one of textcell, panglaodb, cellmarker, sctype"),
        (pd.DataFrame({"type": ["T"], "gene": ["CD3E"]}), "needs columns cell_type and gene"),
        ({"T": {"up": ["CD3E"]}}, "use keys 'positive' and 'negative'"),
    ],
)
def test_bad_marker_input_is_explained(markers, message, resolver):
    with pytest.raises(InputError, match=message):
        load_markers(markers, resolver=resolver)


def test_a_database_that_is_not_at_hand_says_where_to_get_it(tmp_path, monkeypatch, resolver):
    monkeypatch.setenv("TEXTCELL_SHARED_DATA", str(tmp_path))
    with pytest.raises(InputError, match=r"not shipped with textcell.*panglaodb\.se.*path="):
        load_markers("panglaodb", resolver=resolver)


def test_an_empty_selection_is_reported(shared_data, resolver):
    with pytest.raises(InputError, match="empty"):
        load_markers("sctype", tissue="Moon", resolver=resolver)
