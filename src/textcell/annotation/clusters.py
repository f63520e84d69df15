"""Groups to annotate when the data has none: scanpy's standard clustering pipeline."""

from __future__ import annotations

import warnings

import anndata as ad

from .._expression import log_expression
from .._progress import timed


def standard_clusters(
    adata: ad.AnnData,
    *,
    layer: str | None = None,
    use_raw: bool = False,
    resolution: float = 1.0,
    seed: int = 0,
    key_added: str = "leiden",
) -> None:
    """``obs[key_added]`` (Leiden clusters) and, if missing, ``obsm['X_umap']``, from scanpy's
    standard pipeline: counts normalised to 1e4 and log1p'd (log-normalised values are kept),
    highly variable genes (``flavor="seurat"``, at most 2,000 and at most half the genes), scaled
    (max 10), 50 PCs, 15-neighbour graph, Leiden (igraph, ``resolution``, ``seed``). ``X`` is not
    changed."""
    import scanpy as sc

    with timed("clustering: normalisation, highly variable genes, PCA"):
        work = ad.AnnData(log_expression(adata, layer=layer, use_raw=use_raw)[0])
        sc.pp.highly_variable_genes(work, flavor="seurat", n_top_genes=min(2000, work.n_vars // 2))
        work = work[:, work.var["highly_variable"].to_numpy()].copy()
        with warnings.catch_warnings():  # densifying the HVGs is this standard pipeline's step
            warnings.filterwarnings("ignore", "zero-centering a sparse", UserWarning)
            sc.pp.scale(work, max_value=10)
        sc.pp.pca(work, n_comps=min(50, min(work.shape) - 1), random_state=seed)
    with timed("clustering: neighbour graph"):
        sc.pp.neighbors(work, random_state=seed)
    with timed("clustering: Leiden"):
        sc.tl.leiden(work, resolution=resolution, flavor="igraph", n_iterations=2, random_state=seed)
    adata.obs[key_added] = work.obs["leiden"].to_numpy()
    if "X_umap" not in adata.obsm:
        with timed("clustering: UMAP"):
            sc.tl.umap(work, random_state=seed)
        adata.obsm["X_umap"] = work.obsm["X_umap"]
