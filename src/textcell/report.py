"""A self-contained HTML report of an annotated AnnData: the page a user opens in a browser.

UMAP coloured by label and by status, the evidence dot plot, the per-group table (label, status,
supporting / contradicting / missing markers, sources), gene coverage and provenance. Figures are
embedded as PNG data, so the file travels alone.
"""

from __future__ import annotations

import base64
import html
import io
import json
from importlib.metadata import version

import anndata as ad
import numpy as np

from ._io import atomic_write
from .annotation.result import AnnotationResult

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.85em; } td, th { border: 1px solid #ccc; padding: 3px 6px; }
th { background: #f0f0f0; } .verified { background: #d9f2d9; } .weak { background: #fff4cc; }
.unknown { background: #f6d5d5; } img { max-width: 100%; } pre { background: #f6f6f6; padding: 1em; }
.counts span { margin-right: 1.5em; }
"""
GROUP_COLUMNS = ["group", "n_cells", "label", "status", "quality", "cell_ontology", "chain", "supporting",
                 "contradicting", "missing", "alternatives", "sources", "top_genes"]  # fmt: skip


def annotation_report(
    adata: ad.AnnData, path, *, key: str = "textcell_annotation", title: str | None = None
) -> None:
    """Write the HTML report of ``uns[key]`` (from :func:`textcell.tl.annotate`) to ``path``.

    The UMAP is ``obsm['X_umap']``; without one it is computed from ``obsm['X_textcell']`` or
    ``obsm['X_pca']`` (scanpy's neighbours + UMAP, seed 0).
    """
    result = AnnotationResult.from_adata(adata, key)
    coordinates = _umap(adata)
    figures = []
    if coordinates is not None:
        from .pl import annotation_umap

        figures.append(
            (
                "UMAP by label and status",
                annotation_umap(coordinates, adata.obs[key], adata.obs[f"{key}_status"]),
            )
        )
    figures.append(("Marker evidence", result.dotplot()))
    counts = result.counts()
    sections = [
        f"<h1>{html.escape(title or 'textcell cell-type annotation')}</h1>",
        f"<p>{adata.n_obs:,} cells × {adata.n_vars:,} genes; {len(result.groups)} groups in "
        f"<code>obs[{html.escape(result.params['groupby'])!r}]</code>; "
        f"labels in <code>obs[{key!r}]</code>.</p>",
        '<p class="counts">'
        + "".join(f'<span class="{s}">{s}: {n} groups</span>' for s, n in counts.items())
        + "</p>",
        "<p>A label is <b>verified</b> only when the group expresses its canonical markers (thresholds "
        "below); <b>weak</b> labels have partial support; <b>unknown</b> groups name their closest "
        "candidate. Candidate sources never make a label on their own.</p>",
        *(
            f'<h2>{html.escape(name)}</h2>\n<img alt="{html.escape(name)}" src="{_png(figure)}">'
            for name, figure in figures
        ),
        "<h2>Labels and their evidence</h2>",
        _table(result),
        "<h2>Gene coverage</h2>",
        _coverage(adata),
        "<h2>Provenance</h2>",
        f"<pre>{html.escape(json.dumps(_provenance(adata, key), indent=1, default=str))}</pre>",
    ]
    head = f"<title>{html.escape(title or 'textcell report')}</title><style>{STYLE}</style>"
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{head}</head><body>\n'
        + "\n".join(sections)
        + "\n</body></html>\n"
    )
    with atomic_write(path, "w") as handle:
        handle.write(page)


def _umap(adata: ad.AnnData) -> np.ndarray | None:
    if "X_umap" in adata.obsm:
        return np.asarray(adata.obsm["X_umap"])
    rep = next((r for r in ("X_textcell", "X_pca") if r in adata.obsm), None)
    if rep is None:
        return None
    import scanpy as sc

    work = ad.AnnData(obs=adata.obs[[]].copy(), obsm={rep: np.asarray(adata.obsm[rep])})
    sc.pp.neighbors(work, use_rep=rep, random_state=0)
    sc.tl.umap(work, random_state=0)
    return work.obsm["X_umap"]


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _table(result: AnnotationResult) -> str:
    frame = result.groups.reindex(columns=GROUP_COLUMNS)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "\n".join(
        f'<tr class="{html.escape(str(row.status))}">'
        + "".join(f"<td>{html.escape(str(v))}</td>" for v in row)
        + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f'<table id="evidence"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def _coverage(adata: ad.AnnData) -> str:
    for key in ("textcell", "textcell_genes"):
        coverage = adata.uns.get(key, {}).get("coverage") if isinstance(adata.uns.get(key), dict) else None
        if coverage:
            matched, total = int(coverage["n_matched"]), int(coverage["n_total"])
            unmatched = ", ".join(map(str, list(coverage.get("unmatched", []))[:30]))
            return (
                f"<p>{matched:,} of {total:,} genes resolved ({matched / total:.1%}); routes: "
                f"{html.escape(json.dumps(dict(coverage.get('routes', {})), default=str))}. "
                f"Unresolved (first 30): {html.escape(unmatched) or 'none'}.</p>"
            )
    return "<p>No gene coverage report in this file (run textcell.tl.resolve_genes or embed_genes).</p>"


def _provenance(adata: ad.AnnData, key: str) -> dict:
    out = {"textcell_version": version("textcell"), "annotation": dict(adata.uns[key]["params"])}
    for name in ("textcell", "X_textcell"):
        if isinstance(adata.uns.get(name), dict) and "params" in adata.uns[name]:
            out[name] = dict(adata.uns[name]["params"])
    return out
