"""Subtype refinement (tl.annotate(subtypes=True)) on real data: Kang et al.'s IFN-β PBMCs, the
validation dataset, whose CD14+ monocytes share a Leiden cluster with FCGR3A+ monocytes."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import textcell
from textcell.annotation.clusters import restricted_subclusters, standard_clusters
from textcell.annotation.refine import MIN_CELLS
from textcell.annotation.result import AnnotationResult
from textcell.bench.annotation import TISSUE, score
from textcell.ontology import CellTypes
from textcell.report import annotation_report

pytestmark = pytest.mark.slow
KEY = "textcell_annotation"


@pytest.fixture(scope="module")
def ifnb(shared_data):
    adata = ad.read_h5ad(shared_data / "cells" / "kang2018_ctrl_vs_ifnb.h5ad")
    standard_clusters(adata)
    return adata


@pytest.fixture(scope="module")
def both(ifnb):
    """The annotation without and with the refinement (PanglaoDB markers, no text source)."""
    options = dict(groupby="leiden", markers="panglaodb", tissue=TISSUE, text=False, copy=True)
    return (
        textcell.tl.annotate(ifnb, subtypes=False, **options),
        textcell.tl.annotate(ifnb, subtypes=True, **options),
    )


def _score(adata):
    result = AnnotationResult.from_adata(adata, KEY)
    groups = adata.obs[result.params["groupby"]]
    return score(adata.obs[KEY], adata.obs[f"{KEY}_status"], adata.obs["cell_type"], groups), result


def test_standard_clusters_keep_their_graph_beside_the_users(shared_data):
    adata = ad.read_h5ad(shared_data / "cells" / "kang2018_ctrl_vs_ifnb.h5ad")[:600].copy()
    users = adata.obsp["connectivities"] = sparse.identity(adata.n_obs, format="csr")
    standard_clusters(adata)
    assert adata.obsp["connectivities"] is users or (adata.obsp["connectivities"] != users).nnz == 0
    graph = adata.obsp["leiden_connectivities"]
    assert graph.shape == (600, 600)
    assert graph.nnz > 600 * 5


def test_restricted_subclusters_are_scanpys_restrict_to(ifnb):
    import scanpy as sc

    graph = ifnb.obsp["leiden_connectivities"].tocsr()
    group = ifnb.obs["leiden"].value_counts().index[0]
    cells = np.flatnonzero(ifnb.obs["leiden"] == group)
    ours = restricted_subclusters(graph[cells][:, cells], resolution=1.0, seed=0)
    work = ad.AnnData(obs=pd.DataFrame({"leiden": ifnb.obs["leiden"].astype(str).astype("category")}))
    work.obs_names = ifnb.obs_names
    sc.tl.leiden(
        work, adjacency=graph, restrict_to=("leiden", [str(group)]), resolution=1.0, flavor="igraph",
        n_iterations=2, random_state=0, key_added="restricted",
    )  # fmt: skip
    assert len(set(ours)) > 1
    assert list(work.obs["restricted"].to_numpy()[cells]) == [f"{group},{s}" for s in ours]


def test_a_mixed_monocyte_cluster_is_refined_to_classical_monocytes(both):
    scores_plain = _score(both[0])[0]
    scores, result = _score(both[1])
    assert "refined_from" not in AnnotationResult.from_adata(both[0], KEY).params
    assert result.params["refined_from"] == "leiden"
    assert result.params["groupby"] == f"{KEY}_group"
    assert result.params["subtypes"]["refine"]
    assert result.params["subtypes"]["groups_split"]
    new = result.groups[result.groups["refined_from"] != ""]
    classical = new[new["label"] == "Classical monocytes"]
    assert len(classical) >= 1, new[["group", "n_cells", "label", "status", "supporting"]]
    row = classical.iloc[0]
    assert row["status"] == "verified"
    assert row["group"].startswith(f"{row['refined_from']},")
    assert row["chain"] == "Mononuclear phagocytes > Monocytes > Classical monocytes"
    assert not row["contradicting"]
    evidence = result.evidence[result.evidence["group"] == row["group"]]
    chain = evidence[evidence["chain_level"] >= 0]
    assert set(chain["cell_type"]) == {"Mononuclear phagocytes", "Monocytes", "Classical monocytes"}
    assert not (chain["role"] == "contradicting").any()
    # the rest of the cluster keeps its label; every cell of the cluster is still in one group
    rest = result.groups[(result.groups["group"] == row["refined_from"])]
    assert list(rest["label"]) == ["Monocytes"]
    adata = both[1]
    column = adata.obs[f"{KEY}_group"].astype(str)
    inside = adata.obs["leiden"].astype(str) == row["refined_from"]
    assert set(column[inside]) == {row["refined_from"], row["group"]}
    assert (column[~inside] == adata.obs["leiden"].astype(str)[~inside]).all()
    assert (adata.obs.loc[column == row["group"], KEY] == "Classical monocytes").all()
    # strictly better, never a wrong verified label, the lenient accuracy within that sub-cluster's minority
    assert scores_plain["wrong_verified"] == []
    assert scores["wrong_verified"] == []
    assert scores["accuracy_strict"] > scores_plain["accuracy_strict"]
    minority = (adata.obs.loc[column == row["group"], "cell_type"] != "CD14+ Monocytes").sum()
    assert scores["accuracy"] >= scores_plain["accuracy"] - minority / adata.n_obs - 1e-9


def test_groups_without_a_verified_subtype_are_left_as_they_were(both):
    plain, refined = (AnnotationResult.from_adata(a, KEY) for a in both)
    split = set(refined.params["subtypes"]["groups_split"].split(", "))
    before = plain.groups.set_index("group")
    after = refined.groups.set_index("group")
    untouched = [g for g in before.index if g not in split]
    assert untouched
    assert split
    pd.testing.assert_frame_equal(before.loc[untouched], after.loc[untouched])
    vocabulary = CellTypes.bundled()
    tried = [
        g for g in untouched
        if before.at[g, "status"] == "verified" and vocabulary.descendants(before.at[g, "label"])
        and before.at[g, "n_cells"] >= 2 * MIN_CELLS
    ]  # fmt: skip
    assert tried  # B and T cell clusters: sub-clustered, no subtype verified, left whole


def test_refined_result_round_trips_and_reports(both, tmp_path):
    adata = both[1].copy()
    adata.write_h5ad(tmp_path / "refined.h5ad")
    back = ad.read_h5ad(tmp_path / "refined.h5ad")
    before, after = AnnotationResult.from_adata(adata, KEY), AnnotationResult.from_adata(back, KEY)
    pd.testing.assert_frame_equal(before.groups, after.groups, check_dtype=False)
    pd.testing.assert_frame_equal(before.evidence, after.evidence, check_dtype=False)
    assert after.params["subtypes"]["seed"] == 0
    # the labels map back onto the cells through the refined groups
    labels = after.labels(back.obs[after.params["groupby"]])
    assert list(labels["label"].astype(str)) == list(back.obs[KEY].astype(str))
    annotation_report(back, tmp_path / "report.html")
    assert (tmp_path / "report.html").stat().st_size > 0


def test_annotating_again_without_refinement_drops_the_refined_groups(both):
    adata = both[1].copy()
    assert f"{KEY}_group" in adata.obs
    textcell.tl.annotate(
        adata, groupby="leiden", markers="panglaodb", tissue=TISSUE, text=False, subtypes=False
    )
    assert f"{KEY}_group" not in adata.obs
    result = AnnotationResult.from_adata(adata, KEY)
    assert result.params["groupby"] == "leiden"
    assert not result.params["subtypes"]["refine"]
    assert (result.groups["refined_from"] == "").all()


def test_inherited_labels_are_marked_with_the_group_that_verified_them(ifnb, both, tmp_path):
    # with seed 2 the rest of the monocyte cluster does not verify "Monocytes" on its own markers
    options = dict(groupby="leiden", markers="panglaodb", tissue=TISSUE, text=False, copy=True)
    adata = textcell.tl.annotate(ifnb, subtypes=True, seed=2, **options)
    plain, refined = (AnnotationResult.from_adata(a, KEY) for a in (both[0], adata))
    first = plain.groups.set_index("group")
    groups = refined.groups
    flag = groups["inherited"].astype(str) == "True"
    inherited, own = groups[flag], groups[~flag & (groups["refined_from"] != "")]
    assert (groups.loc[flag, "refined_from"] != "").all()
    shown = groups[["group", "label", "status", "refined_from", "inherited", "supporting"]]
    assert len(inherited), shown
    assert len(own), shown
    vocabulary = CellTypes.bundled()
    for row in inherited.itertuples():  # its group's label and status, verified on the whole group
        parent = first.loc[row.refined_from]
        assert (row.label, row.status) == (parent["label"], parent["status"])
    for row in own.itertuples():  # verified on its own markers, at or below its group's label
        assert row.status == "verified"
        assert row.supporting
        assert vocabulary.is_a(row.label, first.at[row.refined_from, "label"])
    annotation_report(adata, tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    for row in inherited.itertuples():
        assert f"{row.status} (as group {row.refined_from})" in page
    assert page.count(" (as group ") == len(inherited)
