"""tl.annotate on real data (Kang et al. 2018 PBMC), with a smooth-muscle-like cluster added."""

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import textcell
from chat_server import ChatServer
from textcell.annotation.chat import ChatProposer
from textcell.annotation.clusters import standard_clusters
from textcell.annotation.result import AnnotationResult
from textcell.bench.annotation import TISSUE, score
from textcell.errors import InputError
from textcell.markers import load_markers

pytestmark = pytest.mark.slow
SMOOTH_MUSCLE = {"ACTA2": 30, "TAGLN": 25, "MYL9": 20, "FGF7": 12, "MYH11": 8, "CNN1": 8, "DES": 6, "MYLK": 6}
NEUTROPHIL = ["FCGR3B", "CXCR2", "CSF3R", "CMTM2"]  # measured, never enriched in the new cluster


@pytest.fixture(scope="module")
def kang(shared_data):
    adata = ad.read_h5ad(shared_data / "cells" / "kang2018_pbmc.h5ad")
    standard_clusters(adata)
    return adata


@pytest.fixture(scope="module")
def with_smooth_muscle(kang):
    """Kang's cells plus 150 smooth-muscle-like cells (ACTA2, FGF7 high, RGS5 low) in group "smc".
    Their other genes are PBMC counts shuffled across cells, without the immune markers (PTPRC and
    every lineage marker textcell knows: a smooth muscle cell expresses none of them)."""
    rng = np.random.default_rng(0)
    counts = sparse.csr_matrix(kang.X).toarray()
    background = np.stack([rng.permutation(counts[:, j])[:150] for j in range(counts.shape[1])], axis=1)
    immune = set(load_markers("textcell")["gene"]) | {"PTPRC"}
    background[:, kang.var_names.isin(immune)] = 0
    extra = [*SMOOTH_MUSCLE, "RGS5", *NEUTROPHIL]
    pbmc_extra = rng.poisson(0.02, size=(kang.n_obs, len(extra)))
    smc_extra = np.column_stack(
        [rng.poisson(SMOOTH_MUSCLE[g], 150) * (rng.random(150) < 0.9) for g in SMOOTH_MUSCLE]
        + [rng.poisson(0.3, 150)]
        + [rng.poisson(0.02, 150) for _ in NEUTROPHIL]
    )
    x = np.block([[counts, pbmc_extra], [background, smc_extra]])
    obs = pd.DataFrame(
        {"leiden": [*kang.obs["leiden"].astype(str), *["smc"] * 150]},
        index=[*kang.obs_names, *[f"smc-{i}" for i in range(150)]],
    )
    return ad.AnnData(
        sparse.csr_matrix(x.astype(np.float32)), obs=obs, var=pd.DataFrame(index=[*kang.var_names, *extra])
    )


def _annotated(adata, **options) -> AnnotationResult:
    return AnnotationResult.from_adata(textcell.tl.annotate(adata, copy=True, **options))


def test_kang_labels_match_the_annotation_with_no_wrong_verified_label(kang):
    result = textcell.tl.annotate(kang, groupby="leiden", markers="panglaodb", tissue=TISSUE, copy=True)
    key = "textcell_annotation"
    scores = score(
        result.obs[key], result.obs[f"{key}_status"], result.obs["cell_type"], result.obs["leiden"]
    )
    assert scores["accuracy"] >= 0.95
    assert scores["wrong_verified"] == []
    assert scores["groups"]["verified"] >= 6
    assert key not in kang.obs  # copy=True left the input alone


def test_smooth_muscle_cluster_guessed_as_neutrophil_is_never_verified_as_one(with_smooth_muscle):
    with ChatServer({"S100A8": "Neutrophils", "FGF7": "Neutrophils", "ACTA2": "Neutrophils"}) as naive:
        chat = ChatProposer("naive", base_url=naive.base_url, backoff=0.01)
        bundled = _annotated(with_smooth_muscle, groupby="leiden", chat=chat)
        immune = _annotated(
            with_smooth_muscle, groupby="leiden", markers="panglaodb", tissue=TISSUE, chat=chat
        )
    for result in (bundled, immune):
        smc = result.groups.set_index("group").loc["smc"]
        assert "Neutrophils" in set(
            result.candidates.query("group == 'smc' and source == 'chat'")["cell_type"]
        )
        assert not (smc["label"] == "Neutrophils" and smc["status"] == "verified")
        neutrophil = result.evidence.query("group == 'smc' and cell_type == 'Neutrophils'")
        assert set(neutrophil["role"]) == {"missing"}
        assert set(neutrophil["marker"]) == set(NEUTROPHIL)
    vocabulary = textcell.ontology.CellTypes.bundled()
    for result in (bundled, immune):  # textcell's own table proposes whatever the database knows
        smc = result.groups.set_index("group").loc["smc"]
        assert smc["status"] == "verified"
        assert vocabulary.is_a(smc["label"], "Smooth muscle cells")
        chain = result.evidence.query("group == 'smc' and chain_level >= 0 and role == 'supporting'")
        assert {"ACTA2", "TAGLN", "MYH11"} <= set(chain["marker"])


def test_a_type_missing_from_the_marker_table_is_not_verified(kang, resolver):
    markers = load_markers("textcell", resolver=resolver)
    without_b = markers[~markers["cell_type"].isin(["B cells", "Plasma cells"])]
    result = _annotated(kang, groupby="leiden", markers=without_b)
    b_groups = kang.obs.groupby("leiden", observed=True)["cell_type"].agg(lambda s: s.value_counts().index[0])
    b_groups = [str(g) for g, label in b_groups.items() if label == "B cells"]
    assert b_groups
    table = result.groups.set_index("group").loc[b_groups]
    assert (table["status"] == "unknown").all(), table[["label", "status", "supporting"]]


def test_result_round_trips_through_h5ad(kang, tmp_path):
    adata = kang.copy()
    textcell.tl.annotate(adata, groupby="leiden", key_added="cell_label")
    assert set(adata.obs["cell_label_status"].cat.categories) == {"verified", "weak", "unknown"}
    adata.write_h5ad(tmp_path / "annotated.h5ad")
    back = ad.read_h5ad(tmp_path / "annotated.h5ad")
    before, after = (
        AnnotationResult.from_adata(adata, "cell_label"),
        AnnotationResult.from_adata(back, "cell_label"),
    )
    pd.testing.assert_frame_equal(before.groups, after.groups, check_dtype=False)
    pd.testing.assert_frame_equal(before.evidence, after.evidence, check_dtype=False)
    assert after.params["thresholds"]["min_fraction"] == 0.3
    assert list(back.obs["cell_label"]) == list(adata.obs["cell_label"])
    figure = after.dotplot()
    assert figure.axes[0].get_yticklabels()


def test_text_and_reference_candidates(kang):
    adata = kang.copy()
    textcell.tl.embed_genes(adata, model="tfidf")
    textcell.tl.embed_cells(adata)
    donors = adata.obs["donor"].astype(str)
    reference = adata[donors.isin(sorted(set(donors))[:2])].copy()
    query = adata[~donors.isin(sorted(set(donors))[:2])].copy()
    result = _annotated(query, groupby="leiden", reference=reference, reference_labels="cell_type")
    assert result.params["sources"] == ["markers", "text", "reference"]
    majority = query.obs.groupby("leiden", observed=True)["cell_type"].agg(
        lambda s: s.value_counts().index[0]
    )
    best = result.candidates.query("source == 'reference'").groupby("group").head(1).set_index("group")
    vocabulary = textcell.ontology.CellTypes.bundled()
    agree = [
        best.loc[str(g), "cell_type"] == vocabulary.canonical_name(label) for g, label in majority.items()
    ]
    assert np.mean(agree) >= 0.9
    text = result.candidates.query("source == 'text'")
    assert set(text["group"]) == set(result.groups["group"])
    other = query.copy()
    textcell.tl.embed_cells(other, idf=False, center=False, method="topn")
    other.uns["X_textcell"]["params"]["fingerprint"] = "another model"
    with pytest.raises(InputError, match="fingerprint: expected 'another model'"):
        textcell.tl.annotate(query, groupby="leiden", reference=other, reference_labels="cell_type")
    # the recipe counts too: a reference embedded without whitening and scaling is refused
    unwhitened = reference.copy()
    textcell.tl.embed_cells(unwhitened, whiten=False, scale=False)
    with pytest.raises(
        InputError, match=r"scale: expected False, got True; whiten: expected False, got True"
    ):
        textcell.tl.annotate(query, groupby="leiden", reference=unwhitened, reference_labels="cell_type")


def test_bad_input_is_a_clear_error(kang):
    with pytest.raises(InputError, match="cluster first"):
        textcell.tl.annotate(kang, groupby="clusters")
    scaled = kang[:200].copy()
    scaled.X = sparse.csr_matrix(scaled.X.toarray() - 1.0)
    with pytest.raises(InputError, match="use_raw=True"):
        textcell.tl.annotate(scaled, groupby="leiden")
    with pytest.raises(InputError, match="Unknown markers"):
        textcell.tl.annotate(kang, groupby="leiden", markers="nosuchdb")
