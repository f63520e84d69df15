"""A self-contained HTML report of an annotated AnnData: the page a user opens in a browser.

UMAP coloured by label and by status, the evidence dot plot, the per-group table (label, status,
supporting / contradicting / missing markers, sources), gene coverage and provenance. Figures are
embedded as SVG data (text kept as text), so the file travels alone; the page fits windows from
about 800 px wide up, wide tables and plots scrolling in their own boxes.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Mapping
from importlib.metadata import version

import anndata as ad
import numpy as np
import pandas as pd

from ._io import atomic_write
from .annotation.result import AnnotationResult

STYLE = """
*, *::before, *::after { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0 auto; padding: 1.5em 2em; max-width: 1320px;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.3em; } h2 { font-size: 1.25em; margin-top: 1.8em; }
p, li { max-width: 70em; } code { font-size: 0.9em; overflow-wrap: anywhere; }
.figures { display: flex; flex-wrap: wrap; gap: 1em 2em; align-items: flex-start; }
figure { margin: 0; min-width: 0; } .figures figure { flex: 1 1 520px; }
figure img { display: block; max-width: 100%; height: auto; } .figures figure img { width: 100%; }
figcaption { font-size: 0.85em; color: #555; margin-top: 0.3em; }
.wide { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.85em; }
td, th { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; text-align: left; }
td { overflow-wrap: break-word; } th { background: #f0f0f0; }
#evidence { min-width: 72rem; }  /* narrower, it scrolls in its box: rows stay short */
.verified { background: #d9f2d9; } .weak { background: #fff4cc; } .unknown { background: #f6d5d5; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 50%; margin-right: 0.35em;
          vertical-align: baseline; }
.counts span { margin-right: 1.5em; padding: 1px 6px; border-radius: 3px; }
table.facts th { background: none; font-weight: normal; color: #555; white-space: normal; }
details { margin: 0.6em 0; } summary { cursor: pointer; }
pre { background: #f6f6f6; padding: 1em; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.8em; }
@media (max-width: 900px) { body { padding: 1em; } table { font-size: 0.75em; } }
"""
GROUP_COLUMNS = ["group", "n_cells", "label", "status", "quality", "cell_ontology", "chain", "supporting",
                 "contradicting", "missing", "alternatives", "sources", "top_genes"]  # fmt: skip
SHOWN_OPEN = 40  # unresolved genes listed open; more are folded away


def annotation_report(
    adata: ad.AnnData, path, *, key: str = "textcell_annotation", title: str | None = None
) -> None:
    """Write the HTML report of ``uns[key]`` (from :func:`textcell.tl.annotate`) to ``path``.

    The UMAP is ``obsm['X_umap']``; without one it is computed from ``obsm['X_textcell']`` or
    ``obsm['X_pca']`` (scanpy's neighbours + UMAP, seed 0). Figures are SVG (points rasterised,
    text kept as text), embedded in the page.
    """
    from .pl.annotation import annotation_umap, group_categories, group_colors

    result = AnnotationResult.from_adata(adata, key)
    groupby = str(result.params["groupby"])
    groups = group_categories(adata.obs[groupby]) if groupby in adata.obs else None
    colors = (
        {}
        if groups is None
        else dict(zip(groups.categories, group_colors(len(groups.categories)), strict=True))
    )
    coordinates = _umap(adata)
    umaps = []
    if coordinates is not None:
        for panel, caption in (
            ("label", "Each group in its own colour, numbered at its centre."),
            ("status", "Verified, weak and unknown labels."),
        ):
            figure = annotation_umap(
                coordinates, adata.obs[key], adata.obs[f"{key}_status"], groups=groups, panels=(panel,)
            )
            umaps.append(_figure(figure, f"UMAP: {caption}", caption, f"umap-{panel}"))
    dotplot = _figure(
        result.dotplot(),
        "Marker evidence dot plot",
        "Rows: groups with their label; columns: the canonical markers of the labels. Dot size: the "
        "share of the group's cells expressing the marker; fill: its mean expression; ring: what "
        "the marker says about the row's label (legend below the plot).",
        "dotplot",
        smallest=0.8,
    )
    counts = result.counts()
    sections = [
        f"<h1>{html.escape(title or 'textcell cell-type annotation')}</h1>",
        f"<p>{adata.n_obs:,} cells × {adata.n_vars:,} genes; {len(result.groups)} groups in "
        f"<code>obs[{html.escape(groupby)!r}]</code>; labels in <code>obs[{html.escape(key)!r}]</code>.</p>",
        '<p class="counts">'
        + "".join(
            f'<span class="{s}">{s}: {n} {"group" if n == 1 else "groups"}</span>' for s, n in counts.items()
        )
        + "</p>",
        "<p>A label is <b>verified</b> only when the group expresses its canonical markers (thresholds "
        "under Provenance); <b>weak</b> labels have partial support; <b>unknown</b> groups name their "
        "closest candidate. Candidate sources never make a label on their own.</p>",
        *(['<h2>UMAP</h2>\n<div class="figures">' + "\n".join(umaps) + "</div>"] if umaps else []),
        "<h2>Marker evidence</h2>",
        dotplot,
        "<h2>Labels and their evidence</h2>",
        '<div class="wide">' + _table(result, colors) + "</div>",
        "<h2>Gene coverage</h2>",
        _coverage(adata),
        "<h2>Provenance</h2>",
        _provenance_section(adata, key),
    ]
    head = (
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title or 'textcell report')}</title><style>{STYLE}</style>"
    )
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head><body>\n'
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


def _figure(figure, alt: str, caption: str, name: str, *, smallest: float | None = None) -> str:
    """A figure with its caption. ``smallest``: the figure is shown at its own size, shrunk to fit
    the page down to this share of it and scrolled sideways in its box below that (so its text
    stays readable on a narrow screen)."""
    image = f'<img alt="{html.escape(alt)}" src="{_svg(figure)}"'
    if smallest is not None:
        width = figure.get_figwidth() * 96  # CSS pixels per inch
        size = f"width:100%;max-width:{width:.0f}px;min-width:{smallest * width:.0f}px"
        image = f'<div class="wide">{image} style="{size}"></div>'
    else:
        image += ">"
    return f'<figure id="{name}">{image}<figcaption>{html.escape(caption)}</figcaption></figure>'


def _svg(figure) -> str:
    """The figure as an SVG data URI: text stays text (readable, searchable), scatter points marked
    ``rasterized`` are one embedded image, whatever the number of cells."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "textcell"}):
        figure.savefig(buffer, format="svg", dpi=150, metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def _inherited_from(groups: pd.DataFrame) -> dict[str, str]:
    """Sub-clusters whose label and status are their group's: sub-cluster → group."""
    if "inherited" not in groups:  # annotated before the column existed
        return {}
    flags = groups["inherited"].astype(str) == "True"  # h5ad stores the flags as text
    chosen = groups.loc[flags]
    return dict(zip(chosen["group"].astype(str), chosen["refined_from"].astype(str), strict=True))


def _table(result: AnnotationResult, colors: dict) -> str:
    from .pl.annotation import checked_type, natural_order

    frame = result.groups.iloc[natural_order(result.groups["group"])].reset_index(drop=True)
    inherited = _inherited_from(frame)
    frame = frame.reindex(columns=GROUP_COLUMNS).fillna("").astype(str)
    evidence = result.evidence.astype({"group": str, "cell_type": str, "marker": str})
    for index, row in frame.iterrows():  # an unknown group: the evidence of its closest candidate
        closest = checked_type(row["label"])
        if closest != row["label"] and not (row["supporting"] or row["contradicting"] or row["missing"]):
            checked = evidence[(evidence["group"] == row["group"]) & (evidence["cell_type"] == closest)]
            for role in ("supporting", "contradicting", "missing"):
                frame.loc[index, role] = ", ".join(checked.loc[checked["role"] == role, "marker"])
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in frame.columns)
    rows = []
    for row in frame.to_dict("records"):
        cells = {column: html.escape(value) for column, value in row.items()}
        color = colors.get(row["group"])
        if color is not None:
            cells["group"] = f'<span class="swatch" style="background:{_hex(color)}"></span>{cells["group"]}'
        if row["group"] in inherited:  # verified on the whole group it was split from, not on its own
            cells["status"] += f" (as group {html.escape(inherited[row['group']])})"
        if row["n_cells"].isdigit():
            cells["n_cells"] = f"{int(row['n_cells']):,}"
        if re.fullmatch(r"CL:\d{7}", row["cell_ontology"]):
            term = row["cell_ontology"]
            cells["cell_ontology"] = (
                f'<a href="http://purl.obolibrary.org/obo/{term.replace(":", "_")}">{term}</a>'
            )
        rows.append(
            f'<tr class="{row["status"]}">' + "".join(f"<td>{c}</td>" for c in cells.values()) + "</tr>"
        )
    body = "\n".join(rows)
    return f'<table id="evidence"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def _hex(color) -> str:
    from matplotlib.colors import to_hex

    return to_hex(color)


def _coverage(adata: ad.AnnData) -> str:
    """How the genes resolved, as a small table, and every gene that did not, with why."""
    from .genes.ids import CoverageReport

    for key in ("textcell", "textcell_genes"):
        entry = adata.uns.get(key)
        if isinstance(entry, Mapping) and entry.get("coverage"):
            report = CoverageReport.from_dict(entry["coverage"])
            break
    else:
        return "<p>No gene coverage report in this file (run textcell.tl.resolve_genes or embed_genes).</p>"
    routes = ", ".join(
        f"{n:,} by {route.replace('_', ' ')}"
        for route, n in sorted(report.routes.items(), key=lambda r: -r[1])
        if n
    )
    facts = [
        ("genes in the data", f"{report.n_total:,}"),
        ("resolved to a gene", f"{report.n_matched:,} ({report.fraction_matched:.1%}): {routes or 'none'}"),
    ]
    if report.expression_fraction is not None:
        facts.append(("expression in resolved genes", f"{report.expression_fraction:.1%}"))
    unresolved = [(gene, f"ambiguous: could be {', '.join(c)}") for gene, c in report.ambiguous.items()]
    unresolved += [(gene, "not found in the corpus") for gene in report.unmatched]
    facts.append(
        (
            "not resolved",
            f"{len(unresolved):,} ({len(report.ambiguous):,} ambiguous, {len(report.unmatched):,} not found)",
        )
    )
    table = (
        '<table class="facts">'
        + "".join(
            f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>" for name, value in facts
        )
        + "</table>"
    )
    if not unresolved:
        return table
    listing = (
        '<table id="unresolved"><thead><tr><th>gene</th><th>why</th></tr></thead><tbody>'
        + "".join(
            f"<tr><td>{html.escape(str(gene))}</td><td>{html.escape(why)}</td></tr>"
            for gene, why in unresolved
        )
        + "</tbody></table>"
    )
    opened = " open" if len(unresolved) <= SHOWN_OPEN else ""
    return (
        f"{table}\n<details{opened}><summary>The {len(unresolved):,} genes not resolved</summary>"
        f'<div class="wide">{listing}</div></details>'
    )


def _provenance_section(adata: ad.AnnData, key: str) -> str:
    provenance = _provenance(adata, key)
    annotation, genes = provenance["annotation"], provenance.get("textcell", {})
    summary = [f"textcell {provenance['textcell_version']}"]
    if genes.get("model"):
        summary.append(f"gene texts embedded with {genes['model']} ({genes.get('view', '')} view)")
    summary.append(f"markers: {annotation.get('markers', '')}")
    text = json.dumps(provenance, indent=1, default=str)
    return (
        f"<p>{html.escape('; '.join(summary))}.</p>\n<details><summary>Every parameter (JSON)</summary>"
        f"<pre>{html.escape(text)}</pre></details>"
    )


def _provenance(adata: ad.AnnData, key: str) -> dict:
    out = {"textcell_version": version("textcell"), "annotation": dict(adata.uns[key]["params"])}
    for name in ("textcell", "X_textcell"):
        if isinstance(adata.uns.get(name), dict) and "params" in adata.uns[name]:
            out[name] = dict(adata.uns[name]["params"])
    return out
