import pandas as pd
import pytest

from textcell.annotation.verify import decide
from textcell.markers import load_markers
from textcell.ontology import CellOntology, CellTypes, normalise_name


@pytest.fixture(scope="module")
def vocabulary():
    return CellTypes.bundled()


def _support(expressed: dict[str, list[str]], genes) -> pd.DataFrame:
    return pd.DataFrame({g: [g in expressed[k] for k in expressed] for g in genes}, index=list(expressed))


def test_bundled_vocabulary_is_consistent(vocabulary, resolver):
    table = load_markers("textcell", resolver=resolver)
    assert table.attrs["unresolved"] == 0  # every canonical marker is an official symbol
    for name, cell_type in vocabulary.types.items():
        assert cell_type.cell_ontology.startswith("CL:")
        assert cell_type.parent is None or cell_type.parent in vocabulary
        assert len(cell_type.positive) >= 2
        assert vocabulary.canonical_name(name) == name
    assert len({t.cell_ontology for t in vocabulary.types.values()}) == len(vocabulary.types)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("CD4 T cells", "CD4+ T cells"),
        ("T helper cells", "CD4+ T cells"),
        ("FCGR3A+ Monocytes", "Non-classical monocytes"),
        ("B cells naive", "B cells"),
        ("Natural killer cell", "NK cells"),
        ("γδ T cells", "Gamma delta T cells"),
        ("Nuocytes", "ILC2"),
        ("Tanycytes", None),  # a CL term textcell's table does not have
    ],
)
def test_names_map_onto_the_vocabulary(vocabulary, name, expected):
    assert vocabulary.canonical_name(name) == expected


def test_hierarchy(vocabulary):
    assert vocabulary.ancestors("Regulatory T cells") == ["CD4+ T cells", "T cells"]
    assert vocabulary.chain("Regulatory T cells") == ["T cells", "CD4+ T cells", "Regulatory T cells"]
    assert set(vocabulary.descendants("Monocytes")) == {"Classical monocytes", "Non-classical monocytes"}
    assert vocabulary.is_a("Ductal cells", "Epithelial cells")  # through the Cell Ontology
    assert not vocabulary.is_a("Epithelial cells", "Ductal cells")
    assert vocabulary.common_ancestor(["Classical monocytes", "Non-classical monocytes"]) == "Monocytes"
    assert vocabulary.common_ancestor(["B cells", "T cells"]) is None
    assert normalise_name("CD14+ Monocytes") == "cd14+ monocyte"


GENES = ["CD3D", "CD3E", "CD3G", "CD2", "TRAC", "IL7R", "CD40LG", "MAL", "CD4", "CD8A", "CD8B",
         "MS4A1", "CD79A", "CD79B", "CD19", "NKG7", "GNLY", "KLRD1", "HLA-DRA", "CD74"]  # fmt: skip


def test_verified_needs_half_the_canonical_markers_and_a_verified_parent(vocabulary):
    support = _support(
        {
            "t4": ["CD3D", "CD3E", "CD2", "IL7R", "CD40LG"],
            "t_thin": ["CD3D"],
            "cd4_without_t": ["IL7R", "CD40LG", "MAL"],
            "nk": ["NKG7", "GNLY", "KLRD1", "CD3D", "CD3E", "CD3G"],
        },
        GENES,
    )
    markers = load_markers("textcell")
    t4 = decide("t4", ["T cells"], support, vocabulary, markers)
    assert (t4.label, t4.status) == ("CD4+ T cells", "verified")  # refined through the descendants
    assert t4.evidence.supporting == ["IL7R", "CD40LG"]
    thin = decide("t_thin", ["T cells"], support, vocabulary, markers)
    assert (thin.label, thin.status) == ("T cells", "weak")
    orphan = decide("cd4_without_t", ["CD4+ T cells"], support, vocabulary, markers)
    assert orphan.status == "weak"  # its parent (T cells) is not verified
    nk = decide("nk", ["NK cells"], support, vocabulary, markers)
    assert nk.checks["NK cells"].contradicting == ["CD3D", "CD3E", "CD3G"]
    assert nk.label != "NK cells" or nk.status != "verified"


def test_contradicted_doublets_are_unknown(vocabulary):
    support = _support({"doublets": ["CD3D", "CD3E", "CD2", "MS4A1", "CD79A", "CD79B"]}, GENES)
    mixed = decide("doublets", ["B cells", "T cells"], support, vocabulary, load_markers("textcell"))
    assert mixed.checks["B cells"].contradicting == ["CD3D", "CD3E"]
    assert mixed.checks["T cells"].contradicting == ["MS4A1", "CD79A"]
    assert mixed.status == "unknown"


def test_unrelated_verified_types_make_a_weak_label_and_siblings_their_parent(vocabulary):
    genes = ["NKG7", "GNLY", "KLRD1", "PPBP", "PF4", "GP9", "LYZ", "FCN1", "CSF1R", "MNDA", "CD14", "S100A8",
             "S100A9", "VCAN", "FCGR3A", "MS4A7", "CDKN1C", "LST1", "CST3", "TYROBP", "AIF1"]  # fmt: skip
    support = _support(
        {
            "nk_platelets": ["NKG7", "GNLY", "KLRD1", "PPBP", "PF4", "GP9"],
            "monocytes": [
                "LYZ",
                "FCN1",
                "CSF1R",
                "MNDA",
                "CD14",
                "S100A8",
                "S100A9",
                "FCGR3A",
                "MS4A7",
                "LST1",
                "CST3",
                "TYROBP",
                "AIF1",
            ],
        },
        genes,
    )
    markers = load_markers("textcell")
    mixed = decide("nk_platelets", ["NK cells", "Platelets"], support, vocabulary, markers)
    assert mixed.status == "weak"
    assert {mixed.label, *mixed.alternatives} == {"NK cells", "Platelets"}
    both = decide("monocytes", ["Monocytes"], support, vocabulary, markers)
    assert (both.label, both.status) == ("Monocytes", "verified")
    assert set(both.alternatives) == {"Classical monocytes", "Non-classical monocytes"}
    assert both.chain == ["Mononuclear phagocytes", "Monocytes"]


def test_database_types_outside_the_vocabulary_are_weak_at_best(vocabulary):
    support = _support({"apc": ["HLA-DRA", "CD74"]}, GENES)
    markers = pd.DataFrame({"cell_type": "Antigen presenting cells", "gene": ["HLA-DRA", "CD74"]}).assign(
        sign=1, weight=1.0, canonical=True, source="x"
    )
    database = decide("apc", ["Antigen presenting cells"], support, vocabulary, markers)
    assert (database.label, database.status) == ("Antigen presenting cells", "weak")
    own = decide("apc", ["Antigen presenting cells"], support, vocabulary, markers, trust_markers=True)
    assert own.status == "verified"


def test_nothing_supported_is_unknown_with_the_closest_candidate(vocabulary):
    support = _support({"empty": []}, GENES)
    decision = decide("empty", ["B cells", "T cells"], support, vocabulary, load_markers("textcell"))
    assert (decision.label, decision.status) == ("unknown (closest: B cells)", "unknown")


def test_the_label_walks_down_to_the_best_supported_subtype():
    vocabulary = CellTypes.bundled()
    genes = ["CD3D", "CD3E", "CD3G", "CD2", "TRAC", "CD4", "IL7R", "CD40LG", "MAL", "FOXP3", "IL2RA",
             "CTLA4", "IKZF2", "TIGIT", "CCR7", "LEF1", "SELL", "TCF7"]  # fmt: skip
    support = _support(
        {
            "treg": [
                "CD3D",
                "CD3E",
                "CD2",
                "CD4",
                "IL7R",
                "FOXP3",
                "IL2RA",
                "CTLA4",
                "IKZF2",
                "TIGIT",
                "CCR7",
            ],
            "naive_and_treg": [
                "CD3D",
                "CD3E",
                "CD2",
                "CD4",
                "IL7R",
                "FOXP3",
                "IL2RA",
                "CTLA4",
                "CCR7",
                "LEF1",
            ],
        },
        genes,
    )
    markers = load_markers("textcell")
    treg = decide("treg", ["T cells"], support, vocabulary, markers)
    assert (treg.label, treg.status) == ("Regulatory T cells", "verified")
    assert treg.chain == ["T cells", "CD4+ T cells", "Regulatory T cells"]
    # two subtypes verified, neither leading by SEPARATION: the label stays at their parent
    mixed = decide("naive_and_treg", ["T cells"], support, vocabulary, markers)
    assert (mixed.label, mixed.status) == ("CD4+ T cells", "verified")
    assert set(mixed.alternatives) == {"Regulatory T cells", "Naive CD4+ T cells"}


def test_the_label_stops_above_a_type_the_data_cannot_measure():
    """A subtype verified below a type the panel cannot measure is not the label: the type in
    between is what tells the lineages apart (validation_subtypes.py: a T cell cluster, two
    thirds CD4 and a third CD8, whose memory markers verify memory CD4+ T cells)."""
    vocabulary = CellTypes.bundled()
    # as in the validation data's 1,267 genes: of the CD4+ T cell's markers only IL7R is measured
    genes = ["CD3D", "CD3E", "CD2", "IL7R", "CD8A", "ANXA1", "GPR183", "CCL5", "NKG7", "CST7", "CCR7",
             "SELL", "MS4A1", "CD79A", "CD14", "LYZ"]  # fmt: skip
    support = _support({"t": ["CD3D", "CD2", "IL7R", "ANXA1", "GPR183", "CCL5", "SELL"]}, genes)
    decision = decide("t", ["T cells"], support, vocabulary, load_markers("textcell"))
    assert decision.checks["CD4+ T cells"].measured == ["IL7R"]
    assert decision.checks["CD4+ T cells"].clears_the_way
    assert decision.checks["Memory CD4+ T cells"].status == "verified"
    assert (decision.label, decision.status) == ("T cells", "verified")
    assert decision.chain == ["T cells"]


def test_cell_ontology_and_tissue_decide_between_unrelated_roots():
    vocabulary = CellTypes.bundled()
    genes = ["EPCAM", "KRT8", "KRT18", "KRT19", "CDH1", "CLDN4", "SOX9", "CFTR", "SPP1", "KRT7", "MMP7",
             "ONECUT2", "PDGFRB", "RGS5", "DES", "GFAP", "KCNJ8", "ABCC9", "CSPG4", "NOTCH3",
             "HIGD1B"]  # fmt: skip
    support = _support(
        {
            "duct": ["EPCAM", "KRT8", "KRT18", "KRT19", "CDH1", "SOX9", "CFTR", "SPP1", "KRT7"],
            "stellate": ["PDGFRB", "RGS5", "DES", "KCNJ8", "NOTCH3", "HIGD1B", "CSPG4"],
        },
        genes,
    )
    markers = load_markers("textcell")
    duct = decide("duct", ["Epithelial cells", "Ductal cells"], support, vocabulary, markers)
    assert (duct.label, duct.status) == ("Ductal cells", "verified")  # CL: ductal is_a epithelial
    anywhere = decide("stellate", ["Pericytes", "Pancreatic stellate cells"], support, vocabulary, markers)
    assert anywhere.status == "weak"  # two unrelated lineages verified, no tissue to choose
    pancreas = vocabulary.for_tissue("Pancreas")
    local = decide("stellate", ["Pericytes", "Pancreatic stellate cells"], support, pancreas, markers)
    assert (local.label, local.status) == ("Pancreatic stellate cells", "verified")


def test_database_only_types_verify_with_the_databases_consensus():
    vocabulary = CellTypes([])  # no canonical table: every type is a database type
    ontology = CellOntology.bundled()
    genes = ["MS4A1", "CD79A", "CD19", "CD22", "PTPRC", "HLA-DRA"]
    support = _support({"b": ["MS4A1", "CD79A", "CD19", "PTPRC"]}, genes)
    markers = pd.DataFrame(
        {
            "cell_type": "B cell",
            "gene": ["MS4A1", "CD79A", "CD19", "PTPRC", "HLA-DRA"],
            "cell_ontology": "CL:0000236",
        }
    ).assign(sign=1, weight=1.0, canonical=False, source="PanglaoDB")
    agreed = pd.DataFrame({"cell_ontology": "CL:0000236", "gene": ["MS4A1", "CD79A", "CD19", "CD22"]})
    agreed = agreed.assign(n_sources=2, n_types=1)
    alone = decide("b", ["B cell"], support, vocabulary, markers)
    assert alone.status == "weak"  # one database's list never verifies
    agreed_on = decide("b", ["B cell"], support, vocabulary, markers, consensus=agreed)
    assert (agreed_on.label, agreed_on.status) == ("B cell", "verified")
    assert agreed_on.evidence.basis == "consensus"
    assert set(agreed_on.evidence.supporting) == {
        "MS4A1",
        "CD79A",
        "CD19",
    }
    assert ontology.find(agreed_on.label) == "CL:0000236"
