"""Do hybrids of text and expression structure make the gene text matter at the cell level?

    python benchmarks/validation_hybrids.py      # about 20 s on 2 cores

Measured on the validation data only (Kang's IFN-β set, the one ``textcell bench cells`` tunes
its defaults on; never a reported dataset). Every candidate is built twice through the identical
pipeline: with all-MiniLM-L6-v2 ``card`` vectors and with random gene vectors (5 seeds, pooled).
A candidate would earn its place by beating its random control by more than the larger sd while
reaching PCA's mean k-means ARI (10 seeds, k = number of labels).

Candidates (on the prepared data's scaled log-normalised HVGs, as in scanpy's PCA baseline):

- textcell's defaults (``embed_cells``), the reference;
- smoothing: each gene's value mixed with the mean of its k nearest genes by text cosine,
  ``(1 - a)·Z + a·Z·Sᵀ``, then 50 PCs;
- concatenation: [PCA, textcell] with each block at unit total variance;
- projection of Z onto the top r eigenvectors of the text gene–gene Gram matrix;
- PCA with a text prior: Z times the top 50 eigenvectors of (expression covariance + λ · text
  Gram), each at unit trace.

Writes benchmarks/results/validation_hybrids.{json,md}.
"""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import scanpy as sc

from textcell.bench import cells, metrics
from textcell.bench.stats import format_summary, summarize
from textcell.embed import RandomEmbedder
from textcell.tl import embed_genes

RANDOM_SEEDS = range(5)
RESULTS = Path(__file__).parent / "results"


def centred_hvg_vectors(adata: ad.AnnData, model) -> np.ndarray:
    """Gene vectors of the HVGs, centred over the genes that have one; zero for the others."""
    work = ad.AnnData(adata.X, var=adata.var[["highly_variable"]].copy())
    embed_genes(work, model=model, view="card")
    hvg = work.var["highly_variable"].to_numpy()
    vectors = work.varm["textcell"][hvg].astype(np.float64)
    has = work.var["textcell_has_embedding"].to_numpy()[hvg]
    vectors[has] -= vectors[has].mean(axis=0)
    vectors[~has] = 0
    return vectors


def pca(values: np.ndarray, n: int = 50) -> np.ndarray:
    data = ad.AnnData(values.astype(np.float32))
    sc.pp.pca(data, n_comps=n, random_state=0)
    return data.obsm["X_pca"]


def unit_total_variance(embedding: np.ndarray) -> np.ndarray:
    centred = embedding - embedding.mean(axis=0)
    return centred / np.sqrt((centred**2).sum(axis=1).mean())


def neighbour_mean(vectors: np.ndarray, k: int) -> np.ndarray:
    """Row-stochastic matrix: each gene → the mean of its k nearest genes by cosine (genes
    without a vector map to themselves)."""
    has = np.linalg.norm(vectors, axis=1) > 0
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    cosine = unit @ unit.T
    np.fill_diagonal(cosine, -np.inf)
    cosine[:, ~has] = -np.inf
    nearest = np.argpartition(-cosine, k, axis=1)[:, :k]
    smoother = np.zeros_like(cosine)
    np.put_along_axis(smoother, nearest, 1.0 / k, axis=1)
    smoother[~has] = 0
    smoother[~has, np.flatnonzero(~has)] = 1.0
    return smoother


def candidates(z, baseline_pca, vectors, cell_embedding) -> dict[str, np.ndarray]:
    out = {"textcell defaults": cell_embedding}
    for k in (15, 30):
        smoothed = z @ neighbour_mean(vectors, k).T
        for a in (0.3, 0.5):
            out[f"smoothing k={k} a={a}"] = pca((1 - a) * z + a * smoothed)
    out["concat [PCA, textcell]"] = np.hstack(
        [unit_total_variance(baseline_pca), unit_total_variance(cell_embedding)]
    )
    gram = vectors @ vectors.T
    directions = np.linalg.eigh(gram)[1][:, ::-1]
    for r in (20, 50):
        out[f"text-eigenvector projection r={r}"] = z @ directions[:, :r]
    covariance = z.T @ z / len(z)
    for lam in (0.25, 1.0):
        prior = covariance / np.trace(covariance) + lam * gram / np.trace(gram)
        out[f"PCA with a text prior λ={lam}"] = z @ np.linalg.eigh(prior)[1][:, ::-1][:, :50]
    return out


def main() -> None:
    adata = cells.prepare(cells.VALIDATION.load())
    labels = adata.obs[cells.VALIDATION.label].astype(str).to_numpy()
    config = cells.default_config()
    z = np.asarray(cells.scaled_hvgs(adata).X, dtype=np.float64)
    baseline_pca = cells.pca_embedding(adata)
    models = {"text": config["model"], **{f"random {s}": RandomEmbedder(seed=s) for s in RANDOM_SEEDS}}
    scores = {}
    for name, model in models.items():
        vectors = centred_hvg_vectors(adata, model)
        cell_embedding = cells.textcell_embedding(adata, config, gene_model=model)
        for candidate, embedding in candidates(z, baseline_pca, vectors, cell_embedding).items():
            scores.setdefault(candidate, {})[name] = metrics.kmeans_scores(embedding, labels)["ari"]
        print(f"{name}: done", flush=True)
    pca_summary = summarize(metrics.kmeans_scores(baseline_pca, labels)["ari"])
    lines = [
        f"PCA k-means ARI {format_summary(pca_summary)}",
        "",
        "| candidate | text | random genes (5 seeds pooled) | beats random by > sd and ≥ PCA |",
        "|---|---|---|---|",
    ]
    rows = []
    for candidate, by_model in scores.items():
        text = summarize(by_model["text"])
        random = summarize([v for s in RANDOM_SEEDS for v in by_model[f"random {s}"]])
        wins = (
            text["mean"] - random["mean"] > max(text["sd"], random["sd"])
            and text["mean"] >= pca_summary["mean"]
        )
        rows.append(dict(candidate=candidate, text=text, random=random, wins=wins))
        lines.append(
            f"| {candidate} | {format_summary(text)} | {format_summary(random)} | {'yes' if wins else 'no'} |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "validation_hybrids.json").write_text(json.dumps({"pca": pca_summary, "rows": rows}, indent=1))
    (RESULTS / "validation_hybrids.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
