"""Gene programs from text embeddings against co-expression programs, judged by GO enrichment.

On Kang PBMC's highly variable genes (scanpy ``seurat`` flavour, :func:`textcell.bench.cells.prepare`):

- **text programs**: Leiden on the 10-nearest-neighbour cosine graph of the genes' text embeddings
  (:func:`textcell.tl.programs.similarity_graph`), one run per resolution and seed;
- **co-expression programs** (the baseline): the same graph rule and Leiden on the genes' Pearson
  correlations across cells (log-normalised), at the resolution giving the **same number of
  programs** as the text run (bisection; the count actually reached is reported);
- **shuffled** (the false-positive floor): the text programs with their genes permuted, sizes kept.

Each program is tested for GO terms of the bundled corpus (hypergeometric, BH within the program,
q < 0.05; background: the benchmark's genes). The score is the number of programs with at least
one significant term, at matched program counts; mean ± sd over Leiden seeds.

**No GO in the texts.** The texts are the ``summary`` view (RefSeq summary) and the ``name`` view
(symbol and full name); both exclude GO terms. ``summary`` falls back to the GO-bearing card for
genes without a RefSeq summary, so the genes are restricted to those with a summary (for every
view, so that all rows test the same genes).
"""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pandas as pd

from .._defaults import DEFAULT_MODEL
from .._progress import progress
from ..datasets import shared_file
from ..genes.corpus import GeneCorpus
from ..genes.enrichment import enrichment, go_annotations
from ..tl import programs as tp
from .cells import prepare
from .stats import beats, format_summary, summarize

logger = logging.getLogger("textcell")
DATASET = "cells/kang2018_pbmc.h5ad"
SUMMARIES = "genes/refseq_summaries_human.jsonl.gz"
VIEWS = ("summary", "name")
RESOLUTIONS = (0.5, 1.0, 2.0)
SEEDS = range(5)
N_NEIGHBORS = 10
MIN_SIZE = 5
ALPHA = 0.05


def program_benchmark(
    *,
    model=DEFAULT_MODEL,
    views=VIEWS,
    resolutions=RESOLUTIONS,
    seeds=SEEDS,
    n_neighbors: int = N_NEIGHBORS,
    min_size: int = MIN_SIZE,
    alpha: float = ALPHA,
    groupby: str = "cell_type",
) -> dict:
    """Run the comparison; returns a JSON-able dict and, under ``"adata"``, the AnnData with the
    programs of the first view at resolution 1 (for the heat map; not JSON)."""
    from .. import tl

    corpus = GeneCorpus.load().with_summaries(shared_file(SUMMARIES))
    adata = prepare(ad.read_h5ad(shared_file(DATASET)))
    keys = {}
    for view in views:
        key = f"textcell_{view}"
        tl.embed_genes(adata, model=model, view=view, corpus=corpus, key_added=key)
        keys[view] = key
    first = keys[views[0]]
    entrez = adata.var[f"{first}_entrez"].astype(str).to_numpy()
    chosen = adata.var["highly_variable"].to_numpy(bool) & np.isin(entrez, list(corpus.summaries))
    for key in keys.values():
        chosen &= adata.var[f"{key}_has_embedding"].to_numpy(bool)
    genes = np.flatnonzero(chosen)
    universe = list(entrez[genes])
    annotations = go_annotations(corpus, universe)
    symbols = dict(zip(entrez[genes], adata.var_names[genes].astype(str), strict=True))
    logger.info("%d HVGs with a RefSeq summary and an embedding in every view", len(genes))

    def n_enriched(labels: np.ndarray) -> int:
        sets = {str(i): entrez[genes[labels == i]] for i in range(tp.n_programs(labels))}
        table = enrichment(sets, universe=universe, annotations=annotations, symbols=symbols, alpha=alpha)
        return int(table["set"].nunique())

    expression = adata.layers["lognorm"][:, genes]
    coexpression, _ = tp.similarity_graph(
        tp.correlation_blocks(expression), len(genes), n_neighbors=n_neighbors
    )
    rows = []
    steps = [(v, r, s) for v in views for r in resolutions for s in seeds]
    graphs = {}
    for view, resolution, seed in progress(steps, desc="programs", unit="run"):
        if view not in graphs:
            vectors = np.asarray(adata.varm[keys[view]])[genes]
            graphs[view], _ = tp.similarity_graph(
                tp.cosine_similarity_blocks(vectors), len(genes), n_neighbors=n_neighbors
            )
        text = tp.leiden(graphs[view], resolution=resolution, seed=seed, min_size=min_size)
        count = tp.n_programs(text)
        baseline, baseline_resolution = tp.leiden_matched(coexpression, count, seed=seed, min_size=min_size)
        shuffled = np.random.default_rng(seed).permutation(text)
        rows.append(
            {
                "view": view,
                "resolution": resolution,
                "seed": seed,
                "n_programs": count,
                "n_programs_coexpression": tp.n_programs(baseline),
                "coexpression_resolution": baseline_resolution,
                "genes_in_programs": int((text >= 0).sum()),
                "genes_in_programs_coexpression": int((baseline >= 0).sum()),
                "enriched_text": n_enriched(text),
                "enriched_coexpression": n_enriched(baseline),
                "enriched_shuffled": n_enriched(shuffled),
            }
        )
    runs = pd.DataFrame(rows)
    summary = []
    for (view, resolution), group in runs.groupby(["view", "resolution"], sort=False):
        summary.append(
            {
                "view": view,
                "resolution": float(resolution),
                "n_programs": summarize(group["n_programs"]),
                "n_programs_coexpression": summarize(group["n_programs_coexpression"]),
                "genes_in_programs": summarize(group["genes_in_programs"]),
                "genes_in_programs_coexpression": summarize(group["genes_in_programs_coexpression"]),
                "text": summarize(group["enriched_text"]),
                "coexpression": summarize(group["enriched_coexpression"]),
                "shuffled": summarize(group["enriched_shuffled"]),
            }
        )

    example = _example(adata, genes, keys[views[0]], corpus, n_neighbors, min_size, alpha, groupby)
    return {
        "config": {
            "dataset": "kang_pbmc",
            "model": str(getattr(model, "model_id", model)),
            "views": list(views),
            "resolutions": list(resolutions),
            "seeds": list(seeds),
            "n_neighbors": n_neighbors,
            "min_size": min_size,
            "alpha": alpha,
            "n_genes": len(genes),
            "n_hvg": int(adata.var["highly_variable"].sum()),
            "n_go_terms_tested": sum(
                1 for members in annotations.values() if 3 <= len(members & set(universe)) <= 500
            ),
        },
        "runs": runs.to_dict(orient="records"),
        "summary": summary,
        "example": example["table"],
        "adata": example["adata"],
    }


def _example(adata, genes, key, corpus, n_neighbors, min_size, alpha, groupby) -> dict:
    """:func:`textcell.tl.gene_programs` itself on the first view, resolution 1, seed 0: the heat
    map and the table of programs with their top cell type and best GO term."""
    from .. import tl

    tl.gene_programs(
        adata, genes=list(adata.var_names[genes]), genes_key=key, n_neighbors=n_neighbors,
        min_size=min_size, groupby=groupby, layer="lognorm", validate=True, corpus=corpus, alpha=alpha,
    )  # fmt: skip
    result = adata.uns["textcell_programs"]
    table = result["validation"]["text"]["enrichment"]
    best = table.groupby("set").head(1).set_index("set")
    activity = result["activity"]
    rows = []
    for i, name in enumerate(result["names"]):
        members = [str(g) for g in result["programs"][name]]
        row = {
            "program": str(name),
            "size": len(members),
            "genes": ", ".join(members[:8]),
            "top_group": str(activity["top_group"][i]),
            "best_term": "",
            "q": None,
        }
        if name in best.index:
            row["best_term"] = f"{best.loc[name, 'term']} ({best.loc[name, 'aspect']})"
            row["q"] = float(best.loc[name, "q"])
        rows.append(row)
    validation = result["validation"]
    return {
        "adata": adata,
        "table": {
            "programs": rows,
            "n_enriched": validation["text"]["n_enriched"],
            "n_enriched_coexpression": validation["coexpression"]["n_enriched"],
            "n_programs": validation["text"]["n_programs"],
            "n_programs_coexpression": validation["coexpression"]["n_programs"],
        },
    }


def _winner(row: dict) -> str:
    text, coexpression = row["text"], row["coexpression"]
    if beats(text, coexpression):
        return "text"
    if beats(coexpression, text):
        return "co-expression"
    return "tie (within the spread)"


def program_goal_lines(results: dict) -> list[str]:
    lines = []
    for row in results["summary"]:
        lines.append(
            f"- view `{row['view']}`, resolution {row['resolution']:g} "
            f"({format_summary(row['n_programs'], 1)} programs): programs with ≥ 1 significant GO term: "
            f"text {format_summary(row['text'], 1)}, co-expression {format_summary(row['coexpression'], 1)}, "
            f"shuffled {format_summary(row['shuffled'], 1)} → **{_winner(row)}**."
        )
    return lines


def program_markdown(results: dict) -> str:
    config = results["config"]
    out = [
        "## Gene programs: text embeddings vs co-expression (GO enrichment)\n",
        f"{config['dataset']}: {config['n_genes']:,} of {config['n_hvg']:,} highly variable genes (those "
        f"with a RefSeq summary, so no gene's text holds GO terms); text model {config['model']}; "
        f"{config['n_neighbors']}-NN graphs; programs of ≥ {config['min_size']} genes; "
        f"{config['n_go_terms_tested']:,} GO terms tested (hypergeometric, BH within a program, "
        f"q < {config['alpha']}). Co-expression programs are matched to the text run's program count. "
        f"Mean ± sd over Leiden seeds {config['seeds']}.\n",
        *program_goal_lines(results),
        "",
        "| view | resolution | programs (text) | programs (co-expr.) | genes in programs (text) "
        "| genes in programs (co-expr.) | enriched: text | enriched: co-expr. | enriched: shuffled "
        "| winner |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["summary"]:
        out.append(
            f"| {row['view']} | {row['resolution']:g} | {format_summary(row['n_programs'], 1)} | "
            f"{format_summary(row['n_programs_coexpression'], 1)} | "
            f"{format_summary(row['genes_in_programs'], 1)} | "
            f"{format_summary(row['genes_in_programs_coexpression'], 1)} | "
            f"{format_summary(row['text'], 1)} | "
            f"{format_summary(row['coexpression'], 1)} | {format_summary(row['shuffled'], 1)} | "
            f"{_winner(row)} |"
        )
    example = results["example"]
    out += [
        "",
        f"### Programs of the `{config['views'][0]}` view "
        "(resolution 1, seed 0; `textcell.tl.gene_programs`)\n",
        f"{example['n_enriched']} of {example['n_programs']} programs have a significant GO term; "
        f"co-expression at the matched count: {example['n_enriched_coexpression']} of "
        f"{example['n_programs_coexpression']}.\n",
        "![program activity](figures/programs_heatmap.png)\n",
        "| program | genes | first genes | most active in | best GO term | q |",
        "|---|---|---|---|---|---|",
    ]
    for row in example["programs"]:
        q = "" if row["q"] is None else f"{row['q']:.1e}"
        out.append(
            f"| {row['program']} | {row['size']} | {row['genes']} | {row['top_group']} | "
            f"{row['best_term']} | {q} |"
        )
    return "\n".join(out) + "\n"
