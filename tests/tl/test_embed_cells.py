import anndata as ad
import numpy as np
import pytest
from scipy import sparse

import textcell
from textcell.embed import RandomEmbedder
from textcell.errors import InputError
from textcell.recipe import PRESETS


def genept_w_reference(
    counts: np.ndarray, embeddings: np.ndarray, has: np.ndarray, *, idf=False, center=False, whiten=False,
    scale=False,
) -> np.ndarray:  # fmt: skip
    """GenePT-w as a plain dense computation: log-normalise, weighted average, L2; optionally with
    idf gene weights (genes with weight ≤ 0 left out), centred or PCA-whitened gene embeddings and
    per-gene z-scores. (The per-cell division by the total weight is left out: L2 cancels it.)"""
    counts = counts.astype(np.float64)
    lognorm = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4)
    embeddings = embeddings[has].astype(np.float64)
    gene_weight = np.ones(has.sum())
    if idf:
        gene_weight = np.log(len(counts) / (1.0 + (counts[:, has] > 0).sum(axis=0)))
        gene_weight[gene_weight <= 0] = 0
    if whiten:
        centred = embeddings - embeddings.mean(axis=0)
        _, singular, axes = np.linalg.svd(centred, full_matrices=False)
        variance = singular**2 / len(centred)
        keep = variance > 1e-8 * variance.max()
        embeddings = centred @ axes[keep].T / np.sqrt(variance[keep])
    elif center:
        embeddings = embeddings - embeddings.mean(axis=0)
    values = lognorm[:, has]
    if scale:
        sd = values.std(axis=0, ddof=1)
        values = np.where(sd > 0, (values - values.mean(axis=0)) / np.where(sd > 0, sd, 1), 0)
    cells = (values * gene_weight) @ embeddings
    return cells / np.linalg.norm(cells, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def kang(shared_data):
    adata = ad.read_h5ad(shared_data / "cells" / "kang2018_pbmc.h5ad")
    textcell.tl.embed_genes(adata, model=RandomEmbedder(dim=64))
    return adata


@pytest.mark.parametrize(
    "options",
    [
        {"idf": False, "center": False, "whiten": False, "scale": False},
        {},
        {"idf": True, "whiten": True, "scale": False},
        {"idf": True, "whiten": False, "scale": True},
        {"idf": False, "whiten": True, "scale": True},
    ],
    ids=["as_published", "defaults", "whitened", "z_scores", "whitened_z_scores"],
)
def test_weighted_equals_the_dense_genept_reference(kang, options):
    adata = kang.copy()
    textcell.tl.embed_cells(adata, precision="float32", **options)
    has = adata.var["textcell_has_embedding"].to_numpy()
    chosen = {**PRESETS["textcell"].to_dict(), **options}
    reference = genept_w_reference(
        adata.X.toarray(), adata.varm["textcell"], has,
        **{name: chosen[name] for name in ("idf", "center", "whiten", "scale")},
    )  # fmt: skip
    assert np.abs(adata.obsm["X_textcell"] - reference).max() < 1e-5
    params = adata.uns["X_textcell"]["params"]
    assert params["normalization"] == "normalize_total(1e4)+log1p"
    assert params["fingerprint"] == adata.uns["textcell"]["params"]["fingerprint"]


@pytest.mark.parametrize("method", ["weighted", "topn"])
@pytest.mark.parametrize("options", [{}, {"idf": False, "center": False, "whiten": False, "scale": False}])
def test_bfloat16_gene_vectors_stay_within_1e4_cosine_of_float32(kang, method, options):
    """The textcell recipe sums cells over bfloat16 gene vectors (and, where vdpbf16ps takes them,
    bfloat16 weights): the cell vectors must stay within 1e-4 cosine of the float32 ones (smallest
    measured here 0.99999; issue 24's bar is 1e-3), and say which they are."""
    cells = {}
    for precision in ("float32", "bfloat16"):
        adata = kang.copy()
        textcell.tl.embed_cells(adata, method=method, precision=precision, **options)
        cells[precision] = adata.obsm["X_textcell"], adata.uns["X_textcell"]["params"]
    (single, single_params), (half, half_params) = cells["float32"], cells["bfloat16"]
    norms = np.linalg.norm(single, axis=1) * np.linalg.norm(half, axis=1)
    cosine = np.einsum("ij,ij->i", single, half) / norms
    assert cosine.min() >= 1 - 1e-4
    assert np.abs(single - half).max() > 0  # the two precisions really differ
    assert half_params["precision"] == "bfloat16"
    assert "precision" not in single_params
    assert half_params["cell_fingerprint"] != single_params["cell_fingerprint"]


@pytest.mark.parametrize("dim", [64, 200])
def test_the_bfloat16_kernel_sums_the_rounded_vectors_within_the_weights_rounding(kang, dim):
    """weighted_sum over a bfloat16 table against the float64 sum of the same rounded vectors: each
    column within 2^-9 of the sum of its terms' magnitudes (the weights' rounding where the CPU's
    vdpbf16ps takes them; dim 200 leaves 8 columns to the widening path) — a wrong pairing,
    interleave or tail would be off by whole terms — and the same count of genes used."""
    from textcell._kernels import to_bfloat16, weighted_sum

    counts = sparse.csr_matrix(kang.X, dtype=np.float32)
    rng = np.random.default_rng(0)
    values = np.log1p(counts.data)
    gene_weight = np.where(rng.random(counts.shape[1]) < 0.1, 0, rng.uniform(0.5, 2, counts.shape[1]))
    gene_weight = gene_weight.astype(np.float32)
    table = to_bfloat16(rng.standard_normal((counts.shape[1], dim)).astype(np.float32))
    rounded = (table.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    out, used = np.zeros((counts.shape[0], dim), np.float32), np.zeros(counts.shape[0], np.int64)
    weighted_sum(counts.indptr, counts.indices, values, gene_weight, table, out, used)
    weights = sparse.csr_matrix((values * gene_weight[counts.indices], counts.indices, counts.indptr))
    exact, magnitude = weights @ rounded, abs(weights) @ np.abs(rounded)
    assert np.all(np.abs(out - exact) <= 2**-9 * magnitude + 1e-6 * magnitude.max())
    assert np.array_equal(used, (weights > 0).sum(axis=1).A1)


def test_the_textcell_recipe_sums_in_bfloat16_and_genept_w_in_float32(kang):
    for recipe, precision in (("textcell", "bfloat16"), ("genept-w", None)):
        adata = kang[:50].copy()
        textcell.tl.embed_cells(adata, recipe=recipe, normalize="counts")
        assert adata.uns["X_textcell"]["params"].get("precision") == precision


@pytest.mark.parametrize("layout", ["csc", "dense", "backed", "dask"])
def test_every_input_layout_gives_the_same_result(kang, layout, tmp_path):
    expected = textcell.tl.embed_cells(kang, copy=True).obsm["X_textcell"]
    adata = kang.copy()
    if layout == "csc":
        adata.X = sparse.csc_matrix(adata.X)
    elif layout == "dense":
        adata.X = adata.X.toarray()
    elif layout == "dask":
        import dask.array as da

        adata.X = da.from_array(adata.X, chunks=(1500, -1))
    else:
        adata.write_h5ad(tmp_path / "kang.h5ad")
        adata = ad.read_h5ad(tmp_path / "kang.h5ad", backed="r")
    textcell.tl.embed_cells(adata, chunk_size=1000)
    np.testing.assert_allclose(adata.obsm["X_textcell"], expected, atol=1e-6)


def test_backed_file_streams_into_a_copy_of_itself(kang, tmp_path):
    expected = textcell.tl.embed_cells(kang, method="topn", n_top=30, copy=True)
    kang.write_h5ad(tmp_path / "kang.h5ad")
    backed = ad.read_h5ad(tmp_path / "kang.h5ad", backed="r")
    params = textcell.tl.embed_cells_to_file(
        backed, tmp_path / "out.h5ad", method="topn", n_top=30, chunk_size=700, key_added="top"
    )
    result = ad.read_h5ad(tmp_path / "out.h5ad")
    np.testing.assert_allclose(result.obsm["top"], expected.obsm["X_textcell"], atol=1e-6)
    np.testing.assert_array_equal(result.obs["top_n_genes"], expected.obs["X_textcell_n_genes"])
    assert (result.X != kang.X).nnz == 0
    np.testing.assert_array_equal(result.varm["textcell"], kang.varm["textcell"])
    assert result.uns["top"]["params"] == params
    assert (params["dim"], params["n_top"]) == (64, 30)
    assert result.uns["textcell"]["params"]["fingerprint"] == kang.uns["textcell"]["params"]["fingerprint"]

    with pytest.raises(InputError, match="backed AnnData"):
        textcell.tl.embed_cells_to_file(kang, tmp_path / "x.h5ad")
    with pytest.raises(InputError, match=r"Unknown recipe fields \['methd'\]"):
        textcell.tl.embed_cells_to_file(backed, tmp_path / "x.h5ad", methd="topn")
    assert not (tmp_path / "x.h5ad").exists()


def test_dask_on_a_local_cluster(kang):
    import dask.array as da
    from distributed import Client, LocalCluster

    expected = textcell.tl.embed_cells(kang, copy=True).obsm["X_textcell"]
    adata = kang.copy()
    adata.X = da.from_array(adata.X, chunks=(2000, -1))
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, Client(cluster):
        textcell.tl.embed_cells(adata)
    np.testing.assert_allclose(adata.obsm["X_textcell"], expected, atol=1e-6)


def test_topn_uses_only_each_cells_most_expressed_genes(kang):
    adata = kang[:300].copy()
    textcell.tl.embed_cells(
        adata, method="topn", n_top=20, idf=False, center=False, whiten=False, scale=False, key_added="top"
    )
    has = adata.var["textcell_has_embedding"].to_numpy()
    counts = adata.X.toarray()
    masked = np.where(has, counts, 0)
    order = np.lexsort((np.arange(counts.shape[1])[None, :].repeat(len(counts), 0), -masked), axis=1)[:, :20]
    keep = np.zeros_like(counts, dtype=bool)
    np.put_along_axis(keep, order, True, axis=1)
    reference = genept_w_reference(
        np.where(keep & (masked > 0), counts, 0) + 0.0, adata.varm["textcell"], has
    )
    # the reference normalises by the top genes' total; ours by the cell's total: compare directions
    ours = adata.obsm["top"]
    assert (adata.obs["top_n_genes"] <= 20).all()
    assert np.mean(np.sum(ours * reference, axis=1)) > 0.99


def test_sentence_ranks_genes_and_embeds_each_distinct_sentence_once(kang, monkeypatch):
    adata = kang[:200].copy()
    seen = []

    class Counting(RandomEmbedder):
        def embed_batch(self, texts):
            seen.extend(texts)
            return super().embed_batch(texts)

    textcell.tl.embed_cells(adata, method="sentence", n_top=5, model=Counting(dim=16), key_added="s")
    assert adata.obsm["s"].shape == (200, 16)
    row = adata.X[0].toarray().ravel()
    symbols = adata.var["textcell_symbol"].to_numpy()
    eligible = adata.var["textcell_has_embedding"].to_numpy() & (row > 0)
    ranked = sorted(np.flatnonzero(eligible), key=lambda g: (-row[g], g))[:5]
    assert " ".join(symbols[ranked]) in seen
    assert len(seen) == len(set(seen))
    params = adata.uns["s"]["params"]
    assert (params["idf"], params["center"]) == (False, False)  # gene weights do not apply to sentences


def test_cells_without_covered_expression_get_zero_and_a_flag(kang):
    adata = kang[:50].copy()
    counts = adata.X.toarray()
    counts[3] = 0
    adata.X = sparse.csr_matrix(counts)
    textcell.tl.embed_cells(adata)
    assert adata.obs["X_textcell_empty"].tolist()[3] is True
    assert not adata.obsm["X_textcell"][3].any()
    assert np.isfinite(adata.obsm["X_textcell"]).all()


def test_log_normalised_input_is_used_as_is():
    adata = textcell.datasets.pbmc68k_reduced()
    adata = ad.AnnData(adata.raw.X.copy(), obs=adata.obs, var=adata.raw.var)
    textcell.tl.embed_genes(adata, model=RandomEmbedder(dim=16))
    textcell.tl.embed_cells(adata)
    assert adata.uns["X_textcell"]["params"]["normalization"] == "as given"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("negative", "negatives"),
        ("nan", "NaN"),
        ("no_varm", "run textcell.tl.embed_genes first"),
        ("wrong_shape", "expected"),
        ("no_hvg", "highly_variable_genes"),
    ],
)
def test_bad_input_fails_clearly(kang, damage, message):
    adata = kang[:100].copy()
    options = {}
    if damage == "negative":
        adata.X = adata.X.toarray() - 1
    elif damage == "nan":
        adata.X = adata.X.toarray()
        adata.X[0, 0] = np.nan
    elif damage == "no_varm":
        del adata.varm["textcell"]
    elif damage == "wrong_shape":
        adata.uns["bad"] = {}
        with pytest.raises(ValueError, match="shape"):
            adata.varm["bad"] = np.zeros((adata.n_vars + 1, 4))
        return
    else:
        options["highly_variable"] = True
    with pytest.raises(InputError, match=message):
        textcell.tl.embed_cells(adata, **options)


def test_ensembl_var_names_resolve(kang):
    adata = kang[:100].copy()
    adata.var_names = adata.var["ensembl_id"].astype(str)
    adata.var_names_make_unique()
    textcell.tl.embed_genes(adata, model=RandomEmbedder(dim=64))
    assert adata.uns["textcell"]["coverage"]["routes"]["ensembl"] > 2000
    textcell.tl.embed_cells(adata)
    assert not adata.obs["X_textcell_empty"].any()


def test_results_survive_h5ad(kang, tmp_path):
    adata = kang[:100].copy()
    textcell.tl.embed_cells(adata)
    adata.write_h5ad(tmp_path / "cells.h5ad")
    back = ad.read_h5ad(tmp_path / "cells.h5ad")
    assert np.array_equal(back.obsm["X_textcell"], adata.obsm["X_textcell"])
    assert back.uns["X_textcell"]["params"]["method"] == "weighted"


def test_whitening_keeps_only_the_axes_the_used_genes_span(kang):
    adata = kang.copy()
    used = np.flatnonzero(adata.var["textcell_has_embedding"].to_numpy())[:100]
    chosen = np.zeros(adata.n_vars, dtype=bool)
    chosen[used] = True
    adata.var["highly_variable"] = chosen
    rng = np.random.default_rng(0)  # 100 gene vectors in a 20-dimensional subspace of the 64 dimensions
    adata.varm["textcell"][used] = rng.normal(size=(100, 20)) @ rng.normal(size=(20, 64))
    textcell.tl.embed_cells(adata, highly_variable=True, whiten=True, scale=True)
    assert adata.obsm["X_textcell"].shape == (adata.n_obs, 20)
    params = adata.uns["X_textcell"]["params"]
    assert (params["whiten"], params["scale"], params["center"], params["dim"]) == (True, True, True, 20)


def test_fewer_genes_than_dimensions_are_centred_not_whitened(kang, caplog):
    """Whitened, 30 genes in 64 dimensions would be the expression merely rotated: the text would
    not matter at all (random gene vectors would give the same cells)."""
    adata = kang.copy()
    few = np.zeros(adata.n_vars, dtype=bool)
    few[np.flatnonzero(adata.var["textcell_has_embedding"].to_numpy())[:30]] = True
    adata.var["highly_variable"] = few
    with caplog.at_level("WARNING", logger="textcell"):
        textcell.tl.embed_cells(adata, highly_variable=True)
    assert "Not whitening: 30 genes for 64 dimensions" in caplog.text
    params = adata.uns["X_textcell"]["params"]
    assert (params["whiten"], params["center"], params["dim"]) == (False, True, 64)
