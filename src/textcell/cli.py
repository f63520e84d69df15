"""The textcell command line: one table of subcommands mirroring the Python API."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._defaults import DEFAULT_MODEL, DEFAULT_VIEW
from .errors import InputError, TextcellError

logger = logging.getLogger("textcell")


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    help: str
    run: Callable[[argparse.Namespace], int]
    args: Sequence[tuple[tuple[str, ...], dict]] = field(default_factory=tuple)


def _arg(*flags: str, **kwargs) -> tuple[tuple[str, ...], dict]:
    return flags, kwargs


def _output_file(value: str) -> Path:
    """An argparse type for files to write: refused before any work when it cannot be written."""
    from ._io import check_writable

    try:
        return check_writable(Path(value))
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _output_folder(value: str) -> Path:
    """An argparse type for report folders to write into."""
    from ._io import check_writable

    try:
        return check_writable(Path(value), folder=True)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(value: str) -> int:
    """An argparse type for counts that must be at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _switch(flag: str, help: str, default: bool | None = True) -> tuple[tuple[str, ...], dict]:
    """An on/off option: ``--flag`` and ``--no-flag``."""
    return _arg(flag, action=argparse.BooleanOptionalAction, default=default, help=help)


CORPUS_ARG = _arg("--corpus", type=Path, help="corpus file (default: the bundled human corpus)")
SUMMARIES_ARG = _arg(
    "--summaries",
    type=Path,
    help="RefSeq summaries (JSONL/TSV from `textcell corpus fetch-ncbi`) replacing the bundled ones",
)
VIEW_ARG = _arg(
    "--view",
    default=DEFAULT_VIEW,
    help=f"text view: function, function_all, name, card, summary or full (default {DEFAULT_VIEW})",
)
MODEL_ARG = _arg(
    "--model",
    default=DEFAULT_MODEL,
    help=f"embedding model (default {DEFAULT_MODEL}, shipped; the previous default: "
    "--model all-MiniLM-L6-v2 --view card)",
)
SPECIES_ARG = _arg("--species", default="auto", help="human, mouse or auto (default: auto)")


def _corpus(args: argparse.Namespace):
    from .genes import GeneCorpus

    corpus = GeneCorpus.load(args.corpus)
    return corpus.with_summaries(args.summaries) if getattr(args, "summaries", None) else corpus


# ---------------------------------------------------------------------------- commands

DEMO_OUTPUTS = ("genes.tsv", "coverage.json", "pbmc68k_textcell.h5ad", "report.html")


def _demo(args: argparse.Namespace) -> int:
    from . import datasets, tl
    from ._io import atomic_write
    from .genes import GeneResolver

    for name in DEMO_OUTPUTS if args.out.is_dir() else ():  # the folder never mixes two runs' files
        (args.out / name).unlink(missing_ok=True)
    corpus = _corpus(args)
    adata = datasets.pbmc68k_reduced()
    print(f"pbmc68k_reduced (scanpy's bundled data): {adata.n_obs:,} cells × {adata.n_vars:,} genes")
    tl.resolve_genes(adata, resolver=GeneResolver(corpus))
    print(_report_text(adata))
    var = adata.var
    matched = var[var["textcell_genes_entrez"] != ""]
    table = matched[["textcell_genes_entrez", "textcell_genes_symbol", "textcell_genes_route"]].copy()
    table.columns = ["entrez", "symbol", "route"]
    table["text"] = corpus.render(matched["textcell_genes_entrez"], view=args.view)
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out / "genes.tsv", "w") as handle:
        table.to_csv(handle, sep="\t", index_label="var_name")
    with atomic_write(args.out / "coverage.json", "w") as handle:
        json.dump(adata.uns["textcell_genes"]["coverage"], handle, indent=2)
    print(f"\nExample {args.view!r} texts:")
    for symbol in ("CD3E", "MS4A1", "CD14", "NKG7"):
        hits = table.index[table["symbol"] == symbol]
        if len(hits):
            text = textwrap.shorten(table.loc[hits[0], "text"], width=300, placeholder=" …")
            print(f"- {symbol}: {text}\n")

    tl.embed_genes(adata, model=args.model, view=args.view, corpus=corpus)
    # X is scaled here, .raw holds the log-normalised values; all 765 genes, as its 304 highly
    # variable ones are too few to whiten 512-d text vectors
    tl.embed_cells(adata, use_raw=True, highly_variable=False)
    genes, cells = adata.uns["textcell"]["params"], adata.uns["X_textcell"]["params"]
    print(
        f"Embedded {genes['n_embedded']:,} genes with {genes['model']} ({genes['dim']}-d, {genes['view']}) "
        f"and {adata.n_obs:,} cells ({cells['method']}, {cells['n_genes_used']:,} genes)."
    )
    print(
        f"Wrote {len(table):,} gene texts to {args.out / 'genes.tsv'} and the coverage report to "
        f"{args.out / 'coverage.json'}"
    )
    from .annotation.clusters import standard_clusters

    standard_clusters(adata, use_raw=True)
    tl.annotate(adata, groupby="leiden", use_raw=True)
    print("\nAnnotation of the Leiden clusters (scanpy's standard pipeline), with marker evidence:")
    _print_annotation(adata, "textcell_annotation")
    _write_h5ad(adata, args.out / "pbmc68k_textcell.h5ad")
    _write_report(adata, args.out / "report.html", "textcell_annotation")
    return 0


def _annotate(args: argparse.Namespace) -> int:
    from . import tl
    from ._progress import timed

    with timed("reading the file"):
        adata = _read_h5ad(args.h5ad, backed=False)
    if args.groupby not in adata.obs:
        if args.groupby != "leiden":
            raise InputError(f"obs[{args.groupby!r}] not found; cluster first or pass --groupby leiden.")
        from .annotation.clusters import standard_clusters

        print("No obs['leiden']: clustering with scanpy's standard pipeline (Leiden, resolution 1).")
        standard_clusters(adata, layer=args.layer, use_raw=args.use_raw)
    chat = None
    if args.chat_model:
        from .annotation.chat import ChatProposer

        chat = ChatProposer(args.chat_model, base_url=args.chat_base_url, max_retries=args.chat_retries)
    with timed("annotation (markers, statistics, candidates, verification)"):
        tl.annotate(
            adata, groupby=args.groupby, markers=args.markers, tissue=args.tissue, species=args.species,
            marker_path=args.marker_file, layer=args.layer, use_raw=args.use_raw, chat=chat,
            key_added=args.key_added, **({} if args.subtypes is None else {"subtypes": args.subtypes}),
        )  # fmt: skip
    _print_annotation(adata, args.key_added)
    if args.output:
        with timed("writing the h5ad file"):
            _write_h5ad(adata, args.output)
    if args.report:
        with timed("writing the report"):
            _write_report(adata, args.report, args.key_added)
    return 0


def _print_annotation(adata, key: str) -> None:
    from .annotation.result import AnnotationResult

    result = AnnotationResult.from_adata(adata, key)
    counts = ", ".join(f"{n} {status}" for status, n in result.counts().items())
    print(f"{len(result.groups)} groups: {counts}.")
    for row in result.groups.itertuples():
        evidence = f" [{row.supporting}]" if row.supporting else ""
        contradicting = f"; contradicting: {row.contradicting}" if row.contradicting else ""
        print(f"  {row.group} ({row.n_cells:,} cells): {row.label} — {row.status}{evidence}{contradicting}")


def _write_report(adata, path: Path, key: str) -> None:
    from .report import annotation_report

    annotation_report(adata, path, key=key)
    print(f"Wrote the report to {path}")


def _report(args: argparse.Namespace) -> int:
    adata = _read_h5ad(args.h5ad, backed=False)
    _write_report(adata, args.output, args.key)
    return 0


def _report_text(adata) -> str:
    from .genes.ids import CoverageReport

    return str(CoverageReport.from_dict(adata.uns["textcell_genes"]["coverage"]))


def _genes_describe(args: argparse.Namespace) -> int:
    from .genes import GeneResolver

    corpus = _corpus(args)
    queries = list(dict.fromkeys(args.genes))
    result = GeneResolver(corpus).resolve(queries, species=args.species)
    for query, row in result.table.iterrows():
        if row["entrez"]:
            via = "" if row["route"] == "symbol" else f"  [{query} → {row['symbol']} via {row['route']}]"
            text = corpus.render([row["entrez"]], view=args.view)[0]
            print((text or f"{row['symbol']}: no {args.view} text (no RefSeq summary, no GO terms)") + via)
        elif row["route"] == "ambiguous":
            print(f"error: {query} is ambiguous, it could be {row['candidates'].replace(';', ', ')}; "
                  "name one of them.", file=sys.stderr)  # fmt: skip
        else:
            print(f"error: {query} is not a gene textcell knows (symbols, aliases, Ensembl or Entrez IDs; "
                  "human or mouse).", file=sys.stderr)  # fmt: skip
    return 0 if len(result.matched) == len(queries) else 2


def _genes_resolve(args: argparse.Namespace) -> int:
    from . import tl
    from .genes import GeneResolver

    adata = _read_h5ad(args.h5ad)
    tl.resolve_genes(adata, species=args.species, layer=args.layer, resolver=GeneResolver(_corpus(args)))
    if args.json:
        print(json.dumps(adata.uns["textcell_genes"]["coverage"], indent=2))
    else:
        print(_report_text(adata))
    if args.output:
        from ._io import atomic_write

        columns = [c for c in adata.var.columns if c.startswith("textcell_genes_")]
        with atomic_write(args.output, "w") as handle:
            adata.var[columns].to_csv(handle, sep="\t", index_label="var_name")
        print(f"Wrote the gene mapping to {args.output}")
    return 0


def _corpus_build(args: argparse.Namespace) -> int:
    from .genes.build import build

    manifest = build(args.source, output=args.output, paths=args.files, download=not args.no_download)
    print(json.dumps(manifest, indent=2))
    return 0


def _corpus_info(args: argparse.Namespace) -> int:
    corpus = _corpus(args)
    info = {
        "version": corpus.version,
        "sources": corpus.sources,
        "counts": corpus.counts(),
        "summaries": len(corpus.summaries),
    }
    print(json.dumps(info, indent=2))
    return 0


def _corpus_fetch_ncbi(args: argparse.Namespace) -> int:
    from .genes.ncbi import EUTILS_URL, fetch_summaries, write_summaries_jsonl

    corpus = _corpus(args)
    cols = corpus.columns
    if args.genes:
        from .genes import GeneResolver

        ids = list(GeneResolver(corpus).resolve(list(dict.fromkeys(args.genes))).matched)
    else:
        types = {"protein-coding"} if args.protein_coding else None
        ids = [e for e, t in zip(cols["entrez"], cols["type"], strict=True) if types is None or t in types]
    summaries = fetch_summaries(
        ids,
        api_key=args.api_key,
        email=args.email,
        base_url=args.base_url or EUTILS_URL,
        max_retries=args.max_retries,
    )
    path = write_summaries_jsonl(summaries, args.output)
    have = sum(bool(s.summary) for s in summaries.values())
    print(f"Fetched {len(summaries):,} of {len(ids):,} genes ({have:,} with a summary) → {path}")
    return 0


def _embed_genes(args: argparse.Namespace) -> int:
    from . import tl
    from .embed import get_embedder, plan_texts

    adata = _read_h5ad(args.h5ad)
    corpus = _corpus(args)
    embedder = get_embedder(args.model, corpus=corpus, view=args.view, trusted=args.trust_pickle)
    if args.dry_run:
        from .genes import GeneResolver

        matched = GeneResolver(corpus).resolve(adata.var_names, species=args.species).matched
        if not hasattr(embedder, "embed_batch"):
            print(f"{embedder.model_id}: a gene-keyed table; nothing is embedded or sent.")
            return 0
        texts = corpus.render(list(dict.fromkeys(matched)), view=args.view)
        print(plan_texts(embedder, [text for text in texts if text]))
        return 0
    if args.output is None:
        raise InputError("Pass -o/--output for the result (or --dry-run to only count).")
    adata = adata.to_memory() if adata.isbacked else adata
    tl.embed_genes(
        adata,
        model=embedder,
        view=args.view,
        corpus=corpus,
        species=args.species,
        key_added=args.key_added,
    )
    params = adata.uns[args.key_added]["params"]
    print(
        f"Embedded {params['n_embedded']:,} of {params['n_genes']:,} genes with {params['model']} "
        f"({params['dim']}-d, view {params['view']}); {params['n_missing']:,} without an embedding."
    )
    _write_h5ad(adata, args.output)
    return 0


def _write_h5ad(adata, path: Path) -> None:
    """Write ``adata``; the file appears under its name only once complete."""
    from ._io import write_h5ad

    write_h5ad(adata, path)
    print(f"Wrote {path}")


def _embed_cells(args: argparse.Namespace) -> int:
    from . import tl

    adata = _read_h5ad(args.h5ad, backed=args.backed)
    if args.genes_key not in adata.varm:
        print(f"No .varm[{args.genes_key!r}] yet: embedding the genes with {args.model} ({args.view}).")
        tl.embed_genes(
            adata, model=args.model, view=args.view, corpus=_corpus(args), key_added=args.genes_key
        )
    options = dict(
        recipe=args.recipe,
        method=args.method,
        genes_key=args.genes_key,
        layer=args.layer,
        use_raw=args.use_raw,
        highly_variable=args.hvg,
        idf=args.idf,
        center=args.center,
        whiten=args.whiten,
        scale=args.scale,
        n_top=args.n_top,
        precision=args.precision,
        model=args.model,
        key_added=args.key_added,
    )
    if adata.isbacked:  # streamed into a copy of the file: X and the result never sit in memory
        params = tl.embed_cells_to_file(adata, args.output, **options)
    else:
        tl.embed_cells(adata, **options)
        params = adata.uns[args.key_added]["params"]
    print(
        f"Embedded {adata.n_obs:,} cells ({params['method']}, {params['dim']}-d, "
        f"{params['n_genes_used']:,} genes, {params['n_empty_cells']:,} empty cells)."
    )
    if adata.isbacked:
        print(f"Wrote {args.output}")
    else:
        _write_h5ad(adata, args.output)
    return 0


def _read_h5ad(path: Path, *, backed: bool = True):
    from ._io import read_h5ad

    return read_h5ad(path, backed=backed)


def _genes_similar(args: argparse.Namespace) -> int:
    from .embed import GeneEmbeddings

    corpus = _corpus(args)
    cols = corpus.columns
    universe = [e for e, t in zip(cols["entrez"], cols["type"], strict=True) if t == "protein-coding"]
    embeddings = GeneEmbeddings.build(
        [*args.genes, *universe], model=args.model, view=args.view, corpus=corpus
    )
    for gene in args.genes:
        table = embeddings.most_similar(gene, k=args.k)
        print(
            f"{gene}: "
            + ", ".join(f"{s} ({c:.3f})" for s, c in zip(table["symbol"], table["cosine"], strict=True))
        )
    return 0


def _cache_info(args: argparse.Namespace) -> int:
    from ._settings import settings
    from .embed import cache_info

    entries = cache_info()
    print(f"Vector cache: {settings.cache_dir / 'vectors'}")
    for e in entries:
        print(f"  {e.fingerprint}  {e.model_id}  {e.vectors:,} vectors of {e.dim}-d  {e.bytes / 1e6:.1f} MB")
    if not entries:
        print("  (empty)")
    return 0


def _cache_clear(args: argparse.Namespace) -> int:
    from .embed import clear_cache

    removed = clear_cache(fingerprint=args.fingerprint)
    print(f"Removed {removed} cache file(s).")
    return 0


def _cell_results(args: argparse.Namespace) -> dict:
    from .bench import cells as cell_bench

    datasets = list(args.datasets or ([] if args.h5ad else cell_bench.DATASETS))
    if args.h5ad:
        if not args.label:
            raise InputError("--h5ad needs --label (the obs column with the cell labels).")
        datasets.append(
            cell_bench.CellDataset(
                args.h5ad.stem, lambda: _read_h5ad(args.h5ad, backed=False), args.label, args.batch
            )
        )
    sweep = not args.h5ad if args.sweep is None else args.sweep
    config = None if sweep else cell_bench.default_config()
    return cell_bench.cell_benchmark(datasets, config=config, seeds=range(args.seeds))


def _gene_results(args: argparse.Namespace):
    from .bench.genes import gene_benchmark

    return gene_benchmark(models=args.models, views=args.views, classifiers=args.classifiers, seed=0)


def _bench_cells(args: argparse.Namespace) -> int:
    return _write_bench_report(args.output, cells=_cell_results(args))


def _bench_genes(args: argparse.Namespace) -> int:
    return _write_bench_report(args.output, genes=_gene_results(args))


def _bench_all(args: argparse.Namespace) -> int:
    return _write_bench_report(args.output, cells=_cell_results(args), genes=_gene_results(args))


def _bench_annotate(args: argparse.Namespace) -> int:
    from .bench.annotation import ANNOTATION_DATASETS, annotation_benchmark

    results = annotation_benchmark(
        args.datasets or (*ANNOTATION_DATASETS, "validation"),
        markers=args.markers,
        gene_model=args.model,
        figures=args.output / "figures",
    )
    return _write_bench_report(args.output, annotation=results)


def _write_bench_report(output: Path, **sections) -> int:
    """Write the sections into the report folder ``output`` and print their goal lines."""
    from .bench.report import write_and_print

    write_and_print(output, **sections)
    return 0


def _programs(args: argparse.Namespace) -> int:
    from . import tl

    adata = _read_h5ad(args.h5ad, backed=False)
    corpus = _corpus(args)
    if args.genes_key not in adata.varm:
        print(f"No .varm[{args.genes_key!r}] yet: embedding the genes with {args.model} ({args.view}).")
        tl.embed_genes(adata, model=args.model, view=args.view, corpus=corpus, key_added=args.genes_key)
    genes = args.genes[0] if args.genes and args.genes[0] in ("highly_variable", "all") else args.genes
    genes = genes or "highly_variable"
    if genes == "highly_variable" and "highly_variable" not in adata.var:
        _add_highly_variable(adata, args.layer, args.n_top_genes)
    tl.gene_programs(
        adata,
        genes=genes,
        genes_key=args.genes_key,
        method=args.method,
        n_neighbors=args.n_neighbors,
        threshold=args.threshold,
        resolution=args.resolution,
        min_size=args.min_size,
        groupby=args.groupby,
        layer=args.layer,
        validate={"auto": None, "yes": True, "no": False}[args.validate],
        corpus=corpus,
        seed=args.seed,
        key_added=args.key_added,
    )
    result = adata.uns[args.key_added]
    params = result["params"]
    print(
        f"{len(result['names'])} programs over {params['n_assigned']:,} of {params['n_genes']:,} genes "
        f"({params['method']}, resolution {params['resolution']:g})."
    )
    if "activity" in result:
        activity = result["activity"]
        for name, top in zip(activity["programs"], activity["top_group"], strict=True):
            genes_shown = ", ".join(str(g) for g in result["programs"][name][:6])
            print(f"  {name} ({len(result['programs'][name])} genes, most active in {top}): {genes_shown}")
    if "validation" in result:
        validation = result["validation"]
        text, baseline = validation["text"], validation["coexpression"]
        print(
            f"GO validation ({validation['n_universe']:,} genes without GO in their text): "
            f"{text['n_enriched']} of {text['n_programs']} text programs have a significant term; "
            f"co-expression programs: {baseline['n_enriched']} of {baseline['n_programs']}."
        )
    if args.figure:
        if "activity" not in result:
            raise InputError("--figure needs --groupby (the heat map is programs × groups).")
        from . import pl
        from ._io import atomic_path

        with atomic_path(args.figure) as tmp:
            figure = pl.program_heatmap(adata, key=args.key_added)
            figure.savefig(tmp, dpi=110, format=args.figure.suffix[1:] or "png")
        print(f"Wrote {args.figure}")
    _write_h5ad(adata, args.output)
    return 0


def _add_highly_variable(adata, layer, n_top_genes: int) -> None:
    """var['highly_variable'] (scanpy, seurat flavour) from log-normalised values."""
    import anndata as ad
    import scanpy as sc

    from ._expression import log_expression

    print(f"No var['highly_variable']: selecting {n_top_genes:,} highly variable genes (scanpy, seurat).")
    work = ad.AnnData(log_expression(adata, layer=layer)[0])
    sc.pp.highly_variable_genes(work, flavor="seurat", n_top_genes=min(n_top_genes, adata.n_vars))
    adata.var["highly_variable"] = work.var["highly_variable"].to_numpy()


def _bench_programs(args: argparse.Namespace) -> int:
    from .bench.programs import program_benchmark

    return _write_bench_report(args.output, programs=program_benchmark(seeds=range(args.seeds)))


def _bench_classifier(args: argparse.Namespace) -> int:
    from .bench.classifier import classifier_benchmark

    return _write_bench_report(
        args.output, classifier=classifier_benchmark(args.tasks, seeds=range(args.seeds))
    )


def _bench_knowledge(args: argparse.Namespace) -> int:
    from .bench import knowledge

    candidates = knowledge.default_candidates(args.models or knowledge.MODELS, args.views or knowledge.VIEWS)
    results = knowledge.knowledge_benchmark(
        candidates, n_bootstrap=args.bootstrap, repeats=args.repeats, protocols=args.protocols
    )
    return _write_bench_report(args.output, knowledge=results)


def _perturb_fit(args: argparse.Namespace) -> int:
    from .perturb import PerturbationModel

    adata = _read_h5ad(args.h5ad, backed=False)
    pairs = [item.partition("=") for item in args.condition_genes or []]
    if any(not sep or not gene for _, sep, gene in pairs):
        raise InputError("Write --condition-genes as LABEL=GENE (e.g. stim=IFNB1).")
    model = PerturbationModel(
        args.method,
        embedding=args.model,
        view=args.view,
        corpus=_corpus(args),
        k=args.k,
        seed=args.seed,
        missing_vectors=args.missing_vectors,
    )
    model.fit(
        adata,
        condition_key=args.condition_key,
        control=args.control,
        context_key=args.context_key,
        condition_genes={label: gene for label, _, gene in pairs},
        layer=args.layer,
    )
    for _, row in model.resolution[model.resolution["route"] != "symbol"].iterrows():
        print(f"perturbed gene {row['name']} → {row['symbol']} ({row['route']})")
    print(
        f"Fitted {args.method} on {len(model.conditions)} conditions × {len(model.genes):,} genes "
        f"in {model.training['seconds']:.1f} s."
    )
    print(f"Wrote {model.save(args.output)}")
    return 0


def _perturb_predict(args: argparse.Namespace) -> int:
    from ._io import atomic_write
    from .perturb import PerturbationModel

    adata = _read_h5ad(args.h5ad, backed=False) if args.h5ad else None
    model = PerturbationModel.load(args.model_file, genes=None if adata is None else adata.var_names)
    predicted = model.predict(args.conditions or None, adata=adata, layer=args.layer)
    with atomic_write(args.output, "w") as handle:
        predicted.to_csv(handle, sep="\t")
    print(f"Wrote {len(predicted)} predicted condition(s) × {predicted.shape[1]:,} genes to {args.output}")
    return 0


def _perturb_evaluate(args: argparse.Namespace) -> int:
    from .bench.perturb import perturbation_benchmark

    results = perturbation_benchmark(
        tasks=args.tasks, seeds=range(args.seeds), kang_seeds=range(args.kang_seeds), jobs=args.jobs
    )
    logger.info("perturbation benchmark: %.0f s", results["wall_seconds"])
    return _write_bench_report(args.output, perturb=results)


def _perturb_reverse(args: argparse.Namespace) -> int:
    from . import tl
    from ._io import atomic_write
    from .perturb import PerturbationModel, candidate_conditions

    adata = _read_h5ad(args.h5ad, backed=False)
    model = PerturbationModel.load(args.model_file)
    genes = candidate_conditions(args.candidate_genes or [], pairs=args.pairs)
    candidates = [*(args.candidates or []), *genes]
    tl.perturb_rank(
        adata,
        model=model,
        condition=args.condition,
        condition_key=args.condition_key,
        control=args.control,
        candidates=candidates or None,
        layer=args.layer,
    )
    table = adata.uns["textcell_perturb_rank"]["ranking"]
    with atomic_write(args.output, "w") as handle:
        table.to_csv(handle, sep="\t", index=False)
    for _, row in table.head(5).iterrows():
        print(f"{row['rank']:>3}  {row['condition']}  (Pearson {row['pearson']:.3f})")
    print(f"Wrote {len(table)} ranked candidate(s) to {args.output}")
    return 0


PERTURB_TASKS = ("papalexi", "norman_singles", "norman_doubles", "mcfaline", "kang")
PROGRAMS_OUTPUT_ARG = _arg(
    "-o", "--output", type=_output_folder, default=Path("textcell-bench-programs"), help="report folder"
)
BENCH_OUTPUT_ARG = _arg(
    "-o", "--output", type=_output_folder, default=Path("textcell-bench"), help="report folder"
)
CELL_BENCH_ARGS = (
    _arg("--datasets", nargs="+", help="kang_pbmc, pbmc_3tech, pbmc68k_reduced (default: all three)"),
    _arg("--h5ad", type=Path, help="also benchmark this AnnData file (counts or log-normalised X)"),
    _arg("--label", help="obs column with the cell labels of --h5ad"),
    _arg("--batch", help="obs column with donors/batches of --h5ad (held out in label transfer)"),
    _arg("--seeds", type=_positive_int, default=10, help="k-means and Leiden seeds (default 10)"),
    _switch(
        "--sweep",
        "choose the recipe again on the validation data (a sweep of 64 configurations; default: on "
        "for the built-in datasets, off with --h5ad, which uses textcell's shipped defaults)",
        None,
    ),
)
GENE_BENCH_ARGS = (
    _arg("--models", nargs="+", default=[DEFAULT_MODEL, "tfidf"], help="text embedders to compare"),
    _arg("--views", nargs="+", default=["card", "summary", "full"], help="text views to compare"),
    _arg(
        "--classifiers",
        nargs="+",
        choices=("logistic", "forest"),
        default=["logistic", "forest"],
        help="classifiers per task (forest: binary gene properties only)",
    ),
)

COMMANDS: tuple[Command, ...] = (
    Command(
        ("demo",),
        "the whole path on scanpy's bundled pbmc68k_reduced: genes, embeddings, clusters, "
        "annotation with evidence, HTML report",
        _demo,
        (
            _arg("--out", type=_output_folder, default=Path("textcell-demo"), help="output folder"),
            MODEL_ARG,
            VIEW_ARG,
            CORPUS_ARG,
            SUMMARIES_ARG,
        ),
    ),
    Command(
        ("annotate",),
        "label groups of cells with marker-gene evidence: verified, weak or unknown",
        _annotate,
        (
            _arg("h5ad", type=Path, help="AnnData file (counts or log-normalised values)"),
            _arg(
                "--groupby", default="leiden", help="obs column with the groups (leiden: computed if missing)"
            ),
            _arg(
                "--markers",
                default="textcell",
                help="textcell (bundled), panglaodb, cellmarker, sctype, or a marker table file",
            ),
            _arg("--marker-file", type=Path, help="the database file, when not in the shared data folder"),
            _arg("--tissue", nargs="+", help="keep only these tissues of the marker database"),
            _arg("--species", default="auto", help="human, mouse or auto (default: detected from the genes)"),
            _arg("--layer", help="expression layer instead of X"),
            _arg("--use-raw", action="store_true", help="use .raw (when X is scaled)"),
            _arg("--chat-model", help="also ask this chat model (OpenAI-compatible; verified like all)"),
            _arg("--chat-base-url", help="chat API root (default $OPENAI_BASE_URL); key: $OPENAI_API_KEY"),
            _arg("--chat-retries", type=int, default=2, help="retries per chat request (default 2)"),
            _arg(
                "--subtypes",
                action=argparse.BooleanOptionalAction,
                default=None,
                help="refine verified groups into subtypes by sub-clustering (default: tl.annotate's)",
            ),
            _arg(
                "--key-added", default="textcell_annotation", help="obs/uns key (default textcell_annotation)"
            ),
            _arg("-o", "--output", type=_output_file, help="h5ad file to write"),
            _arg("--report", type=_output_file, help="HTML report to write"),
        ),
    ),
    Command(
        ("report",),
        "the HTML report (UMAP, evidence, coverage, provenance) of an annotated h5ad file",
        _report,
        (
            _arg("h5ad", type=Path, help="AnnData file annotated by textcell annotate"),
            _arg("-o", "--output", type=_output_file, required=True, help="HTML file to write"),
            _arg("--key", default="textcell_annotation", help="the annotation's uns key"),
        ),
    ),
    Command(
        ("genes", "describe"),
        "print the text of genes",
        _genes_describe,
        (
            _arg("genes", nargs="+", help="symbols, synonyms, Ensembl or Entrez IDs"),
            _arg(
                "--view",
                default="card",
                help="text view: card (default: the readable overview), function (what the default "
                "embedding reads), function_all (with every GO term), name, summary or full",
            ),
            SPECIES_ARG,
            CORPUS_ARG,
            SUMMARIES_ARG,
        ),
    ),
    Command(
        ("genes", "resolve"),
        "resolve the var_names of an h5ad file; print the coverage report",
        _genes_resolve,
        (
            _arg("h5ad", type=Path, help="AnnData file"),
            _arg("--layer", help="layer for the expression-coverage figure (default X)"),
            _arg("--json", action="store_true", help="print the report as JSON"),
            _arg("--output", type=_output_file, help="write the mapping (TSV)"),
            SPECIES_ARG,
            CORPUS_ARG,
        ),
    ),
    Command(
        ("embed-genes",),
        "embed the genes of an h5ad file into varm",
        _embed_genes,
        (
            _arg("h5ad", type=Path, help="AnnData file"),
            _arg("-o", "--output", type=_output_file, help="h5ad file to write"),
            MODEL_ARG,
            VIEW_ARG,
            _arg("--key-added", default="textcell", help="key in varm/uns (default textcell)"),
            _arg(
                "--dry-run",
                action="store_true",
                help="count texts, cache hits, tokens and cost; send nothing",
            ),
            _arg(
                "--trust-pickle",
                action="store_true",
                help="allow a pickled precomputed table (runs its code)",
            ),
            SPECIES_ARG,
            CORPUS_ARG,
            SUMMARIES_ARG,
        ),
    ),
    Command(
        ("embed-cells",),
        "embed every cell of an h5ad file from its genes' text embeddings (obsm)",
        _embed_cells,
        (
            _arg("h5ad", type=Path, help="AnnData file"),
            _arg("-o", "--output", type=_output_file, required=True, help="h5ad file to write"),
            _arg(
                "--recipe",
                default="textcell",
                help="how cells are embedded: textcell (default; the options below on) or genept-w "
                "(GenePT-w as published: all of them off); the options below replace its choices",
            ),
            _arg(
                "--method",
                choices=("weighted", "topn", "sentence"),
                help="weighted: the expression-weighted average of the genes' vectors (GenePT-w; the "
                "recipes' choice); topn: the same over each cell's --n-top genes; sentence: the "
                "symbols of those genes embedded as text (GenePT-s)",
            ),
            _arg("--layer", help="expression layer instead of X"),
            _arg("--use-raw", action="store_true", help="use .raw.X (same genes as .X)"),
            _switch("--hvg", "only var['highly_variable'] genes (textcell: when that column exists)", None),
            _switch("--idf", "down-weight ubiquitous genes (textcell: on)", None),
            _switch("--center", "subtract the mean gene embedding (textcell: on)", None),
            _switch("--whiten", "PCA-whiten the used genes' embeddings (textcell: on)", None),
            _switch("--scale", "average per-gene z-scores instead of values (textcell: on)", None),
            _arg("--n-top", type=_positive_int, help="genes per cell for topn / sentence (default 100)"),
            _arg(
                "--precision",
                choices=("float32", "bfloat16"),
                help="how gene vectors are held while cells are summed: bfloat16 is faster, within "
                "1e-4 cosine of float32, with its own fingerprint (textcell: bfloat16)",
            ),
            _arg("--backed", action="store_true", help="read the file in chunks (large files)"),
            _arg("--genes-key", default="textcell", help="varm key of the gene embeddings"),
            _arg("--key-added", default="X_textcell", help="obsm key of the result"),
            MODEL_ARG,
            VIEW_ARG,
            CORPUS_ARG,
            SUMMARIES_ARG,
        ),
    ),
    Command(
        ("genes", "similar"),
        "the protein-coding genes whose embeddings are closest to each gene",
        _genes_similar,
        (
            _arg("genes", nargs="+", help="genes to query"),
            _arg("-k", type=_positive_int, default=10, help="neighbours to list (default 10)"),
            MODEL_ARG,
            VIEW_ARG,
            CORPUS_ARG,
            SUMMARIES_ARG,
        ),
    ),
    Command(("cache", "info"), "list the cached vectors per model", _cache_info, ()),
    Command(
        ("cache", "clear"),
        "delete cached vectors",
        _cache_clear,
        (_arg("--fingerprint", help="only this embedder's vectors (see `textcell cache info`)"),),
    ),
    Command(
        ("corpus", "build"),
        "build the gene corpus from NCBI Gene + GO",
        _corpus_build,
        (
            _arg(
                "--source",
                choices=("debian", "ncbi"),
                default="debian",
                help="debian: Bioconductor SQLite files from Debian packages; ncbi: NCBI/GO files",
            ),
            _arg(
                "--files",
                nargs="+",
                help="source files (debian: org.Hs.eg.sqlite GO.sqlite; ncbi: gene_info gene2go "
                "go-basic.obo); fetched when omitted",
            ),
            _arg("--no-download", action="store_true", help="never download sources"),
            _arg("-o", "--output", type=_output_file, required=True, help="corpus file to write (.json.gz)"),
        ),
    ),
    Command(
        ("corpus", "info"),
        "print the corpus version, sources and counts",
        _corpus_info,
        (CORPUS_ARG, SUMMARIES_ARG),
    ),
    Command(
        ("corpus", "fetch-ncbi"),
        "fetch RefSeq summaries from NCBI E-utilities (resumable)",
        _corpus_fetch_ncbi,
        (
            _arg("genes", nargs="*", help="genes to fetch (default: every gene in the corpus)"),
            _arg("--protein-coding", action="store_true", help="only protein-coding genes"),
            _arg(
                "-o",
                "--output",
                type=_output_file,
                required=True,
                help="summaries file (.jsonl or .jsonl.gz)",
            ),
            _arg("--api-key", help="NCBI API key (default: $NCBI_API_KEY); allows 10 requests/s"),
            _arg("--email", help="contact address NCBI asks tools to send"),
            _arg("--base-url", help="E-utilities base URL, a mirror or proxy (default: NCBI's)"),
            _arg("--max-retries", type=int, default=6, help="retries per batch (default 6)"),
            CORPUS_ARG,
        ),
    ),
    Command(
        ("bench", "cells"),
        "cell embeddings vs PCA, published GenePT-w and random genes; a report folder",
        _bench_cells,
        (BENCH_OUTPUT_ARG, *CELL_BENCH_ARGS),
    ),
    Command(
        ("bench", "genes"),
        "gene-property tasks per model and view, with controls and the leakage baseline",
        _bench_genes,
        (BENCH_OUTPUT_ARG, *GENE_BENCH_ARGS),
    ),
    Command(
        ("programs",),
        "gene programs from gene-embedding similarity (Leiden), their activity per group, GO validation",
        _programs,
        (
            _arg("h5ad", type=Path, help="AnnData file"),
            _arg("-o", "--output", type=_output_file, required=True, help="h5ad file to write"),
            _arg("--groupby", help="obs column: mean program activity per group (and the heat map)"),
            _arg(
                "--genes",
                nargs="+",
                help="highly_variable (default; computed if missing), all, or a list of var_names",
            ),
            _arg(
                "--n-top-genes",
                type=_positive_int,
                default=2000,
                help="HVGs to select when missing (default 2000)",
            ),
            _arg("--method", choices=("knn", "threshold"), default="knn", help="gene graph (default knn)"),
            _arg("--n-neighbors", type=_positive_int, default=10, help="neighbours per gene (default 10)"),
            _arg("--threshold", type=float, help="cosine cut-off for --method threshold"),
            _arg("--resolution", type=float, default=1.0, help="Leiden resolution (default 1)"),
            _arg("--min-size", type=_positive_int, default=5, help="smallest program (default 5 genes)"),
            _arg("--layer", help="expression layer for the scores (default X; counts are log-normalised)"),
            _arg(
                "--validate",
                choices=("auto", "yes", "no"),
                default="auto",
                help="GO enrichment vs co-expression programs; auto: when the gene texts exclude GO",
            ),
            _arg("--seed", type=int, default=0, help="Leiden seed (default 0)"),
            _arg("--figure", type=_output_file, help="write the programs × groups heat map (png, pdf, svg)"),
            _arg("--genes-key", default="textcell", help="varm key of the gene embeddings"),
            _arg("--key-added", default="textcell_programs", help="key in var/obsm/uns"),
            MODEL_ARG,
            _arg(
                "--view",
                default="name",
                help="text view when the genes still need embedding (default name: no GO terms, so "
                "the programs can be validated against GO; or summary with --summaries)",
            ),
            CORPUS_ARG,
            SUMMARIES_ARG,
        ),
    ),
    Command(
        ("bench", "programs"),
        "text gene programs vs co-expression programs (GO enrichment), Kang PBMC; a report folder",
        _bench_programs,
        (
            PROGRAMS_OUTPUT_ARG,
            _arg("--seeds", type=_positive_int, default=5, help="Leiden seeds (default 5)"),
        ),
    ),
    Command(
        ("bench", "classifier"),
        "kNN vs logistic regression vs MLP on cell embeddings, donor held out, learning curves",
        _bench_classifier,
        (
            PROGRAMS_OUTPUT_ARG,
            _arg("--tasks", nargs="+", default=["kang_pbmc", "kang_ifnb"], help="kang_pbmc, kang_ifnb"),
            _arg("--seeds", type=_positive_int, default=5, help="subsampling and training seeds (default 5)"),
        ),
    ),
    Command(
        ("bench", "annotate"),
        "tl.annotate on standard Leiden clusters, scored against each dataset's cell types",
        _bench_annotate,
        (
            BENCH_OUTPUT_ARG,
            _arg(
                "--datasets",
                nargs="+",
                help="kang_pbmc, pbmc_3tech, pbmc68k_reduced, baron_mouse_pancreas, validation (default all)",
            ),
            _arg("--markers", default="panglaodb", help="marker resource (default panglaodb)"),
            _arg("--model", default=DEFAULT_MODEL, help="gene text model for the text candidates"),
        ),
    ),
    Command(
        ("bench", "all"),
        "the full benchmark (cells and genes) into one report folder",
        _bench_all,
        (BENCH_OUTPUT_ARG, *CELL_BENCH_ARGS, *GENE_BENCH_ARGS),
    ),
    Command(
        ("perturb", "fit"),
        "fit a perturbation-response model (train-mean, additive, ridge, kNN, scouter, similar "
        "contexts); save it (.npz)",
        _perturb_fit,
        (
            _arg("h5ad", type=Path, help="AnnData file (raw counts or log-normalised)"),
            _arg("-o", "--output", type=_output_file, required=True, help="model file to write (.npz)"),
            _arg(
                "--method",
                choices=("train_mean", "additive", "ridge", "knn", "scouter", "similar_contexts"),
                default="ridge",
                help="model (default ridge)",
            ),
            _arg("--condition-key", default="perturbation", help="obs column of conditions"),
            _arg("--control", default="control", help="label of control cells (default control)"),
            _arg("--context-key", help="obs column (e.g. cell_type) pairing cells with their controls"),
            _arg("--condition-genes", nargs="+", help="LABEL=GENE for labels that are not genes"),
            _arg("--layer", help="expression layer instead of X"),
            _arg("-k", type=_positive_int, default=5, help="neighbours for knn (default 5)"),
            _arg("--seed", type=int, default=0, help="seed (default 0)"),
            _arg(
                "--missing-vectors",
                choices=("error", "zero"),
                default="error",
                help="a perturbed gene without a vector: stop (default), or give it the zero vector",
            ),
            MODEL_ARG,
            VIEW_ARG,
            CORPUS_ARG,
        ),
    ),
    Command(
        ("perturb", "predict"),
        "predict the mean expression of conditions (A or A+B) with a saved model; a TSV",
        _perturb_predict,
        (
            _arg("model_file", type=Path, help="model written by `textcell perturb fit`"),
            _arg("--conditions", nargs="+", help="conditions to predict (default: the training ones)"),
            _arg("--h5ad", type=Path, help="start from the control cells of this file"),
            _arg("--layer", help="expression layer of --h5ad instead of X"),
            _arg("-o", "--output", type=_output_file, required=True, help="TSV to write"),
        ),
    ),
    Command(
        ("perturb", "evaluate"),
        "perturbation benchmark: text, GO and random gene vectors × ridge, kNN, Scouter on Papalexi, "
        "Norman singles and doubles (with reverse prediction), McFaline cross-cell-line, Kang",
        _perturb_evaluate,
        (
            _arg(
                "-o",
                "--output",
                type=_output_folder,
                default=Path("benchmarks/report-perturb"),
                help="report folder (default benchmarks/report-perturb)",
            ),
            _arg(
                "--tasks",
                nargs="+",
                choices=PERTURB_TASKS,
                default=list(PERTURB_TASKS),
                help="tasks to run (default: all)",
            ),
            _arg("--seeds", type=_positive_int, default=1, help="Scouter seeds per fold (default 1)"),
            _arg(
                "--kang-seeds", type=_positive_int, default=3, help="Scouter seeds per Kang fold (default 3)"
            ),
            _arg("--jobs", type=_positive_int, default=2, help="folds run in parallel processes (default 2)"),
        ),
    ),
    Command(
        ("perturb", "reverse"),
        "rank candidate perturbations (A or A+B) by how well their predicted shift matches the "
        "observed shift of one condition's cells; a TSV",
        _perturb_reverse,
        (
            _arg("model_file", type=Path, help="model written by `textcell perturb fit`"),
            _arg("--h5ad", type=Path, required=True, help="cells of the query condition and control cells"),
            _arg("--condition", required=True, help="label of the query cells"),
            _arg("--condition-key", help="obs column of conditions (default: the model's)"),
            _arg("--control", help="label of control cells (default: the model's)"),
            _arg("--candidates", nargs="+", help="candidate conditions (A, A+B)"),
            _arg("--candidate-genes", nargs="+", help="genes whose single perturbations are candidates"),
            _arg("--pairs", action="store_true", help="also every pair of --candidate-genes"),
            _arg("--layer", help="expression layer instead of X"),
            _arg("-o", "--output", type=_output_file, required=True, help="TSV to write"),
        ),
    ),
    # scGPT (textcell.models.scgpt): handlers in models/scgpt/commands.py, torch imported when run
    Command(
        ("scgpt", "embed"),
        "scGPT cell embeddings from an official checkpoint folder (best_model.pt, vocab.json, args.json)",
        lambda args: _scgpt_command("embed", args),
        (
            _arg("h5ad", type=Path, help="AnnData file (raw counts or log-normalised)"),
            _arg("--checkpoint", type=Path, required=True, help="scGPT checkpoint folder"),
            _arg("-o", "--output", type=_output_file, required=True, help="h5ad to write"),
            _arg("--layer", help="expression layer instead of X"),
            _arg("--use-raw", action="store_true", help="use adata.raw"),
            _switch("--hvg", "only var['highly_variable'] genes (default: all vocabulary genes)", False),
            _arg("--match", choices=("resolver", "exact"), default="resolver", help="gene matching"),
            SPECIES_ARG,
            _arg(
                "--max-length", type=_positive_int, help="tokens per cell (default: the checkpoint's, 1200)"
            ),
            _arg("--batch-size", type=_positive_int, default=64, help="cells per forward pass (default 64)"),
            _arg("--dtype", choices=("float32", "bfloat16"), default="float32", help="precision"),
            _arg("--device", default="cpu", help="torch device (default cpu)"),
            _arg("--threads", type=_positive_int, help="torch threads (default: torch's)"),
            _arg("--seed", type=int, default=0, help="seed of the recipe's random choices (default 0)"),
            _arg("--key-added", default="X_scgpt", help="obsm key (default X_scgpt)"),
        ),
    ),
    Command(
        ("scgpt", "pretrain"),
        "pretrain a compact scGPT (GEP + MVC) on a dataset; gene tokens from text vectors or random",
        lambda args: _scgpt_command("pretrain", args),
        (
            _arg("h5ad", type=Path, help="AnnData file (raw counts or log-normalised)"),
            _arg("-o", "--output", type=_output_folder, required=True, help="checkpoint folder to write"),
            _arg("--gene-init", choices=("text", "random"), default="text", help="gene token start"),
            _arg("--d-model", type=_positive_int, default=64, help="width (default 64)"),
            _arg("--heads", type=_positive_int, default=4, help="attention heads (default 4)"),
            _arg("--d-hid", type=_positive_int, default=128, help="feed-forward width (default 128)"),
            _arg("--layers", type=_positive_int, default=4, help="layers (default 4)"),
            _arg("--max-length", type=_positive_int, default=256, help="tokens per cell (default 256)"),
            _arg(
                "--n-top-genes", type=int, default=1200, help="highly variable genes (0: all; default 1200)"
            ),
            _arg("--epochs", type=_positive_int, default=5, help="epochs (default 5)"),
            _arg("--batch-size", type=_positive_int, default=32, help="cells per step (default 32)"),
            _arg("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)"),
            _arg("--layer", help="expression layer instead of X"),
            _arg("--seed", type=int, default=0, help="seed (default 0)"),
            _arg("--threads", type=_positive_int, help="torch threads (default: torch's)"),
        ),
    ),
    Command(
        ("scgpt", "finetune"),
        "fine-tune an scGPT checkpoint for cell types (CLS head, whole model)",
        lambda args: _scgpt_command("finetune", args),
        (
            _arg("h5ad", type=Path, help="AnnData file with labels"),
            _arg("--checkpoint", type=Path, required=True, help="scGPT checkpoint folder"),
            _arg("--labels", required=True, help="obs column of the cell types"),
            _arg("-o", "--output", type=_output_folder, required=True, help="checkpoint folder to write"),
            _arg("--epochs", type=_positive_int, default=2, help="epochs (default 2)"),
            _arg("--batch-size", type=_positive_int, default=32, help="cells per step (default 32)"),
            _arg("--lr", type=float, default=5e-4, help="peak learning rate (default 5e-4)"),
            _arg("--layer", help="expression layer instead of X"),
            _arg("--seed", type=int, default=0, help="seed (default 0)"),
            _arg("--threads", type=_positive_int, help="torch threads (default: torch's)"),
        ),
    ),
    Command(
        ("bench", "scgpt"),
        "scGPT pretrained here (text vs random gene tokens) against PCA and GenePT on Kang held-out donors",
        lambda args: _scgpt_command("bench", args),
        (
            _arg(
                "-o",
                "--output",
                type=Path,
                default=Path("benchmarks/report-scgpt"),
                help="report folder (default benchmarks/report-scgpt)",
            ),
            _arg(
                "--seeds", type=_positive_int, default=3, help="pretraining seeds per gene start (default 3)"
            ),
            _arg("--epochs", type=_positive_int, default=5, help="pretraining epochs (default 5)"),
            _arg("--finetune-epochs", type=_positive_int, default=2, help="fine-tuning epochs (default 2)"),
            _arg("--threads", type=_positive_int, help="torch threads (default: torch's)"),
        ),
    ),
    Command(
        ("bench", "knowledge"),
        "gene vectors against Reactome neighbours and Lit-BM-17 interactions, with spelling, random "
        "and degree controls; validation and report halves",
        _bench_knowledge,
        (
            _arg(
                "-o",
                "--output",
                type=Path,
                default=Path("benchmarks/report-knowledge"),
                help="report folder (default benchmarks/report-knowledge)",
            ),
            _arg(
                "--models",
                nargs="+",
                help="embedders of the grid (default: the default model, tfidf, go, go:512, "
                "combined:tfidf:512+go:512; the previous default, all-MiniLM-L6-v2 / card, is always a row)",
            ),
            _arg("--views", nargs="+", help="text views (default: function card summary full)"),
            _arg(
                "--protocols",
                nargs="+",
                default=["genept", "matched_pair"],
                help="interaction protocols: genept, matched_sum, matched_pair",
            ),
            _arg("--repeats", type=int, default=5, help="interaction splits per half (default 5)"),
            _arg("--bootstrap", type=int, default=1000, help="bootstrap draws of genes (default 1000)"),
        ),
    ),
)


GROUPS = {
    ("genes",): "gene knowledge: describe genes, resolve a file's gene IDs, find similar genes",
    ("corpus",): "the bundled gene corpus: versions, RefSeq summaries from NCBI, rebuilding it",
    ("cache",): "the on-disk cache of text embeddings: what it holds, clearing it",
    ("bench",): "benchmarks against real baselines (PCA, random genes, GenePT): report folders",
    ("perturb",): "perturbation responses: fit a model, predict conditions, evaluate on real screens",
    (
        "scgpt",
    ): "scGPT, the single-cell transformer, on the CPU: embed with official checkpoints, pretrain, fine-tune",
}


def _scgpt_command(name: str, args: argparse.Namespace) -> int:
    from .models.scgpt import commands

    return getattr(commands, name)(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textcell",
        description="What language models know about genes, for single-cell RNA-seq: gene texts and "
        "embeddings, GenePT cell embeddings, annotation proved by marker genes, benchmarks.",
        epilog="`textcell COMMAND --help` explains a command; `-v` shows where the time goes.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    groups: dict[tuple[str, ...], argparse._SubParsersAction] = {
        (): parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    }
    for command in COMMANDS:
        for depth in range(1, len(command.path)):
            prefix = command.path[:depth]
            if prefix not in groups:
                about = GROUPS.get(prefix, f"{prefix[-1]} commands")
                sub = groups[prefix[:-1]].add_parser(prefix[-1], help=about, description=about)
                groups[prefix] = sub.add_subparsers(dest=f"command_{depth}", required=True, metavar="COMMAND")
        sub = groups[command.path[:-1]].add_parser(
            command.path[-1], help=command.help, description=command.help
        )
        for flags, kwargs in command.args:
            sub.add_argument(*flags, **kwargs)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO if args.verbose else logging.WARNING)
    if args.quiet:
        from ._settings import settings

        settings.progress = False
    import signal

    from . import _signals

    with _signals.installed():  # SIGTERM too unwinds, so no temporary file is left behind
        try:
            return args.run(args)
        except TextcellError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except BaseException as exc:
            status = _signals.exit_status(exc)
            if status is None:
                raise
            stopped = "terminated" if status == 128 + signal.SIGTERM else "interrupted"
            print(f"{stopped}; cached work is kept and a rerun resumes", file=sys.stderr)
            return status
        finally:  # called in-process (tests, notebooks): leave the logger as it was
            logger.removeHandler(handler)
            logger.setLevel(level)
