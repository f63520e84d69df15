"""Groups to annotate: scanpy's standard clustering pipeline (:func:`standard_clusters`), its
neighbour graph (:func:`standard_graph`), and Leiden within one group on that graph
(:func:`restricted_subclusters`, as scanpy's ``restrict_to``)."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd

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
    """``obs[key_added]`` (Leiden clusters), the neighbour graph they were found on
    (``obsp[key_added + '_connectivities']``: a graph of the user's under ``obsp['connectivities']``
    is left alone) and, if missing, ``obsm['X_umap']``, from scanpy's
    standard pipeline: counts normalised to 1e4 and log1p'd (log-normalised values are kept),
    highly variable genes (``flavor="seurat"``, at most 2,000 and at most half the genes), scaled
    (max 10), 50 PCs, 15-neighbour graph, Leiden (igraph, ``resolution``, ``seed``). ``X`` is not
    changed."""
    import scanpy as sc

    work = _neighbours(log_expression(adata, layer=layer, use_raw=use_raw)[0], seed=seed)
    with timed("clustering: Leiden"):
        sc.tl.leiden(work, resolution=resolution, flavor="igraph", n_iterations=2, random_state=seed)
    adata.obs[key_added] = work.obs["leiden"].to_numpy()
    adata.obsp[f"{key_added}_connectivities"] = work.obsp["connectivities"]
    if "X_umap" not in adata.obsm:
        with timed("clustering: UMAP"):
            sc.tl.umap(work, random_state=seed)
        adata.obsm["X_umap"] = work.obsm["X_umap"]


def standard_graph(matrix, *, seed: int = 0):
    """The connectivities (CSR) of :func:`standard_clusters`' neighbour graph of a log-normalised
    cells × genes matrix."""
    return _neighbours(matrix, seed=seed).obsp["connectivities"].tocsr()


def restricted_subclusters(graph, *, resolution: float = 1.0, seed: int = 0) -> np.ndarray:
    """Leiden clusters (``"0"``, ``"1"``, …) of one group's cells on the neighbour graph restricted
    to them (``graph``: the connectivities between the group's cells), as
    ``scanpy.tl.leiden(restrict_to=...)`` does (igraph, 2 iterations, ``seed``)."""
    import scanpy as sc

    work = ad.AnnData(obs=pd.DataFrame(index=np.arange(graph.shape[0]).astype(str)))
    sc.tl.leiden(
        work, adjacency=graph, resolution=resolution, flavor="igraph", n_iterations=2, random_state=seed
    )
    return work.obs["leiden"].to_numpy(dtype=str)


def _neighbours(matrix, *, seed: int) -> ad.AnnData:
    """Highly variable genes, scaling, PCA and the 15-neighbour graph of a log-normalised matrix."""
    import scanpy as sc

    with timed("clustering: normalisation, highly variable genes, PCA"):
        work = ad.AnnData(matrix)
        sc.pp.highly_variable_genes(work, flavor="seurat", n_top_genes=min(2000, work.n_vars // 2))
        work = work[:, work.var["highly_variable"].to_numpy()].copy()
        with warnings.catch_warnings():  # densifying the HVGs is this standard pipeline's step
            warnings.filterwarnings("ignore", "zero-centering a sparse", UserWarning)
            sc.pp.scale(work, max_value=10)
        sc.pp.pca(work, n_comps=min(50, min(work.shape) - 1), random_state=seed)
    with timed("clustering: neighbour graph"):
        sc.pp.neighbors(work, random_state=seed)
    return work
