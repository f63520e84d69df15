"""Annotation beyond blood: mouse pancreas end to end, and a stromal/immune mixture built from real
statistics (the seed case: a smooth-muscle cluster a chat model calls "neutrophils")."""

import anndata as ad
import pandas as pd
import pytest
from mixture import TYPES, stromal_immune_mixture

import textcell
from chat_server import ChatServer
from textcell.annotation.chat import ChatProposer
from textcell.annotation.clusters import standard_clusters
from textcell.annotation.result import AnnotationResult
from textcell.bench.annotation import score
from textcell.cli import main
from textcell.markers import load_markers
from textcell.ontology import CellTypes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def baron(shared_data):
    adata = ad.read_h5ad(shared_data / "cells" / "baron2016_mouse_pancreas.h5ad")
    assert isinstance(adata.obs_names.dtype, pd.StringDtype)  # as current anndata reads text
    standard_clusters(adata)
    return adata


@pytest.fixture(scope="module")
def mixture(shared_data, resolver):
    kang = ad.read_h5ad(shared_data / "cells" / "kang2018_pbmc.h5ad")
    lineage = set(load_markers("textcell", resolver=resolver)["gene"])
    return stromal_immune_mixture(kang, shared_data / "markers" / "PanglaoDB_raw.tsv.gz", lineage)


def test_mouse_pancreas_is_annotated_end_to_end_down_the_ontology(baron):
    result = textcell.tl.annotate(baron, groupby="leiden", tissue="Pancreas", copy=True)
    annotation = AnnotationResult.from_adata(result)
    assert annotation.params["species"] == "mouse"
    assert annotation.params["species_detected"]
    key = "textcell_annotation"
    scores = score(
        result.obs[key], result.obs[f"{key}_status"], result.obs["cell_type"], result.obs["leiden"]
    )
    assert scores["wrong_verified"] == []
    assert scores["accuracy_strict"] >= 0.85
    named = {label for label, names in scores["named"].items() if names}
    assert {"beta", "delta", "ductal", "endothelial", "quiescent_stellate", "macrophage"} <= named
    beta = annotation.groups[annotation.groups["label"] == "Beta cells"]
    assert set(beta["chain"]) == {"Pancreatic endocrine cells > Beta cells"}
    assert set(beta["cell_ontology"]) == {"CL:0000169"}
    chain = annotation.evidence.query("group == @beta.group.iloc[0] and chain_level >= 0")
    assert set(chain["cell_type"]) == {"Pancreatic endocrine cells", "Beta cells"}


def test_cli_writes_a_file_whose_index_is_a_nullable_string_array(shared_data, tmp_path, capsys):
    adata = ad.read_h5ad(shared_data / "cells" / "baron2016_mouse_pancreas.h5ad")
    small = adata[adata.obs["cell_type"].isin(["beta", "ductal", "endothelial", "macrophage"])].copy()
    with ad.settings.override(allow_write_nullable_strings=True):  # a file as current anndata writes it
        small.write_h5ad(tmp_path / "small.h5ad")
    assert isinstance(ad.read_h5ad(tmp_path / "small.h5ad").obs_names.dtype, pd.StringDtype)
    out = tmp_path / "out.h5ad"
    assert main(["annotate", str(tmp_path / "small.h5ad"), "--groupby", "cell_type", "-o", str(out)]) == 0
    back = ad.read_h5ad(out)
    assert list(back.obs_names) == list(small.obs_names)
    labels = back.obs.groupby("cell_type", observed=True)["textcell_annotation"].first()
    assert labels["beta"] == "Beta cells"
    assert labels["macrophage"] == "Macrophages"


def test_each_type_of_a_stromal_immune_mixture_is_named(mixture):
    result = AnnotationResult.from_adata(textcell.tl.annotate(mixture, groupby="group", copy=True))
    vocabulary = CellTypes.bundled()
    table = result.groups.set_index("group")
    for group, expected in TYPES.items():
        label, status = table.loc[group, "label"], table.loc[group, "status"]
        assert status == "verified", (group, label, status)
        assert vocabulary.is_a(label, expected), (group, label, status)


def test_smooth_muscle_proposed_as_neutrophils_is_never_verified_as_one(mixture):
    with ChatServer({"ACTA2": "Neutrophils", "MYH11": "Neutrophils", "S100A8": "Neutrophils"}) as naive:
        chat = ChatProposer("naive", base_url=naive.base_url, backoff=0.01)
        result = AnnotationResult.from_adata(
            textcell.tl.annotate(mixture, groupby="group", chat=chat, copy=True)
        )
    proposed = result.candidates.query("group == 'smc' and source == 'chat'")
    assert "Neutrophils" in set(proposed["cell_type"])
    smc = result.groups.set_index("group").loc["smc"]
    assert smc["status"] == "verified"
    assert CellTypes.bundled().is_a(smc["label"], "Smooth muscle cells")
    neutrophil = result.evidence.query("group == 'smc' and cell_type == 'Neutrophils'")
    assert set(neutrophil["check"]) == {"unsupported"}
    assert "supporting" not in set(neutrophil["role"])
