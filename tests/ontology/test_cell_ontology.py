"""The bundled Cell Ontology extract: complete, attributed, and walkable."""

import gzip
import hashlib
import json
from importlib.resources import files

from textcell.ontology import CellOntology


def test_extract_matches_its_manifest_and_keeps_every_current_term():
    ontology = CellOntology.bundled()
    folder = files("textcell.ontology") / "data"
    manifest = json.loads((folder / "cl.manifest.json").read_text())
    payload = (folder / manifest["file"]).read_bytes()
    assert hashlib.sha256(payload).hexdigest() == manifest["sha256"]
    assert manifest["licence"] == "CC BY 4.0"
    assert "Diehl" in manifest["attribution"]
    assert ontology.version == "v2026-03-26"
    raw = json.loads(gzip.decompress(payload))
    assert len(ontology) == len(raw) == manifest["n_terms"] > 3000  # 3,596 terms less the obsolete ones
    assert not any(term.label.startswith("obsolete") for term in ontology.terms.values())


def test_terms_have_labels_definitions_synonyms_and_ancestors():
    ontology = CellOntology.bundled()
    t_cell = ontology.term("CL:0000084")
    assert t_cell.label == "T cell"
    assert "T cell receptor" in t_cell.definition
    assert "T lymphocyte" in t_cell.synonyms
    treg = ontology.term("CL_0000792")  # CellMarker writes CL IDs with an underscore
    assert ontology.is_a(treg.id, "CL:0000624")
    assert ontology.is_a(treg.id, "CL:0000084")
    assert not ontology.is_a("CL:0000084", treg.id)
    assert "regulatory T cell" in treg.text()
    assert treg.definition in treg.text()


def test_names_find_terms_by_label_or_synonym():
    ontology = CellOntology.bundled()
    assert ontology.find("T lymphocytes") == "CL:0000084"
    assert ontology.find("Macrophages") == "CL:0000235"
    assert ontology.find("type B pancreatic cells") == "CL:0000169"
    assert ontology.find("CL:0000236") == "CL:0000236"
    assert ontology.find("not a cell type at all") is None
