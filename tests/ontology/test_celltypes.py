"""textcell's canonical cell-type table: on the Cell Ontology, referenced, human and mouse."""

import pandas as pd
import pytest

from textcell.bench.annotation import verifiable_counts
from textcell.markers import load_markers
from textcell.ontology import CellOntology, CellTypes, references
from textcell.ontology.celltypes import TISSUE_ALIASES


@pytest.fixture(scope="module")
def vocabulary():
    return CellTypes.bundled()


def test_every_type_sits_on_a_current_cl_term_below_its_parent(vocabulary):
    ontology = CellOntology.bundled()
    for name, cell_type in vocabulary.types.items():
        assert cell_type.cell_ontology in ontology, name
        if cell_type.parent:
            parent = vocabulary.types[cell_type.parent]
            assert ontology.is_a(cell_type.cell_ontology, parent.cell_ontology), (name, cell_type.parent)
    assert len({t.cell_ontology for t in vocabulary.types.values()}) == len(vocabulary)


def test_every_row_names_its_source(vocabulary):
    keys = set(references()["key"])
    assert all(references()["doi"].str.startswith("10."))
    for name, cell_type in vocabulary.types.items():
        assert cell_type.references, name
        assert set(cell_type.references) <= keys, name


def test_tissues_are_the_tables_own_names(vocabulary):
    known = {t for cell_type in vocabulary.types.values() for t in cell_type.tissues}
    aliases = {k.strip() for value in TISSUE_ALIASES.values() for k in value.split(";")}
    assert aliases <= known | {"salivary gland"}  # every alias lands on a tissue the table uses


def test_at_least_150_cl_terms_are_verifiable_in_human_and_in_mouse():
    counts = verifiable_counts()
    assert counts["human"] >= 150
    assert counts["mouse"] >= 150


def test_mouse_markers_map_through_orthologs(vocabulary, resolver):
    mouse = vocabulary.for_species("mouse", resolver)
    assert "INS" in mouse.types["Beta cells"].positive  # Ins1 and Ins2 both → INS
    assert "Ly6g" in mouse.types["Neutrophils"].positive  # no human ortholog: the mouse symbol
    assert mouse.types["T cells"].positive == vocabulary.types["T cells"].positive
    table = load_markers("textcell", species="mouse", resolver=resolver)
    assert {"Ly6g", "S100A8"} <= set(table.query("cell_type == 'Neutrophils'")["gene"])


def test_tissue_narrows_the_table_but_keeps_types_of_any_tissue(vocabulary):
    pancreas = vocabulary.for_tissue("Pancreas")
    assert {"Beta cells", "Ductal cells", "Macrophages", "Endothelial cells"} <= set(pancreas.types)
    assert "Hepatocytes" not in pancreas
    assert "Alveolar type 2 cells" not in pancreas
    assert "Hematopoietic stem cells" in vocabulary.for_tissue(["Immune system", "Blood"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Gamma (PP) cells", "PP cells"),  # PanglaoDB / ScType
        ("type B pancreatic cell", "Beta cells"),  # a CL label
        ("Clara cells", "Club cells"),
        ("Natural killer cell", "NK cells"),
    ],
)
def test_database_and_cl_names_map_onto_the_table(vocabulary, name, expected):
    assert vocabulary.canonical_name(name) == expected


def test_marker_databases_land_on_cl_terms(shared_data, resolver):
    for name in ("panglaodb", "cellmarker", "sctype"):
        table = load_markers(name, resolver=resolver)
        types = table.groupby("cell_type")["cell_ontology"].first()
        assert (types != "").mean() >= (0.4 if name == "cellmarker" else 0.7), name
    cellmarker = load_markers("cellmarker", resolver=resolver)
    assert set(cellmarker.query("cell_type == 'Macrophage'")["cell_ontology"]) == {"CL:0000235"}
    assert isinstance(cellmarker, pd.DataFrame)
