"""tl.annotate: cell-type labels per group, each proven by marker-gene expression or marked as not.

Candidates come from several sources — marker-database scoring, zero-shot text similarity between
the group's marker genes and embedded cell-type descriptions, an optional labelled reference
(kNN on the cell embedding) and an optional chat model — and every one of them goes through the
same verification (:mod:`textcell.annotation.verify`). A source's confidence never makes a label:
only the group's expression of the label's canonical markers does.
"""

from __future__ import annotations

import logging
from importlib.metadata import version

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from .._expression import log_expression
from ..annotation import candidates as sources
from ..annotation import refine
from ..annotation.evidence import Thresholds, contradicting, group_statistics, supported
from ..annotation.quality import quality
from ..annotation.result import AnnotationResult
from ..annotation.verify import MIN_MARKERS, MIN_SHARE, SEPARATION, Decision, decide
from ..errors import InputError
from ..markers import RESOURCES, load_markers
from ..ontology import CellOntology, CellTypes
from ..ontology.databases import CONSENSUS_SOURCES, consensus_markers
from ..recipe import identity_of, require_same
from .resolve_genes import symbol_fallback

logger = logging.getLogger("textcell")
SOURCE_ORDER = ("markers", "reference", "text", "chat")
TEXT_CANDIDATES = 3
SUBTYPES = True  # refine verified labels into subtypes (textcell.annotation.refine); chosen on the
# validation data (benchmarks/validation_subtypes.py): strict accuracy 43.8% -> 45.7-46.0% (seeds
# 0-2), no wrong verified label, lenient 96.79% -> 96.72% (one cell: the minority of a sub-cluster
# labelled with its majority's subtype)


def annotate(
    adata: ad.AnnData,
    *,
    groupby: str,
    markers="textcell",
    tissue: str | list[str] | None = None,
    species: str = "auto",
    marker_path=None,
    reference: ad.AnnData | None = None,
    reference_labels: str | None = None,
    use_rep: str = "X_textcell",
    genes_key: str = "textcell",
    text: bool | None = None,
    text_model=None,
    chat=None,
    layer: str | None = None,
    use_raw: bool = False,
    thresholds: Thresholds | None = None,
    n_genes: int = 20,
    key_added: str = "textcell_annotation",
    copy: bool = False,
    cell_types: CellTypes | None = None,
    consensus: int | None = CONSENSUS_SOURCES,
    subtypes: bool = SUBTYPES,
    seed: int = 0,
) -> ad.AnnData | None:
    """Label every group of cells and verify each label with marker genes.

    Parameters
    ----------
    adata
        Annotated data with groups (e.g. Leiden clusters) in ``obs[groupby]``. Expression from
        ``X``, ``layer`` or ``.raw``: raw counts are log-normalised first; scaled values are refused.
    groupby
        The ``obs`` column with the groups to label.
    markers
        ``"textcell"`` (the bundled canonical markers of the major cell types of the main
        tissues, human and mouse), ``"panglaodb"``, ``"cellmarker"``, ``"sctype"`` (not shipped:
        see :func:`textcell.markers.load_markers`), a marker file, a dict ``{cell type: genes}``
        or a DataFrame. The databases propose more types; verification always uses canonical
        markers.
    tissue
        Keep only the marker database rows of these tissues, and only textcell's types that live
        there (types of no particular tissue, such as immune or endothelial cells, always stay).
    species
        ``"human"``, ``"mouse"`` or ``"auto"`` (detected from the gene names). Mouse genes are
        resolved to their human orthologs, and textcell's mouse markers are used where they differ.
    marker_path
        Passed to :func:`~textcell.markers.load_markers`.
    reference, reference_labels
        A labelled AnnData with the same cell embedding in ``obsm[use_rep]`` and its labels in
        ``obs[reference_labels]``: each group's cells vote through their nearest reference cells.
    use_rep
        The cell embedding used with ``reference``.
    genes_key
        The gene embeddings (``varm``) used for text similarity.
    text
        Propose labels by text similarity. ``None``: when ``varm[genes_key]`` exists and its model
        can embed the cell-type descriptions.
    text_model
        The embedder for the descriptions (default: the one that made the gene embeddings).
    chat
        A :class:`textcell.annotation.chat.ChatProposer`; never called unless given.
    layer, use_raw
        Where the expression is.
    thresholds
        When a marker counts as expressed by a group (:class:`textcell.annotation.Thresholds`).
    n_genes
        Marker genes per group (scanpy's ``rank_genes_groups``, Wilcoxon) for the text and chat
        sources and the report.
    key_added
        ``obs[key_added]`` (label), ``obs[key_added + '_status']`` (``verified``, ``weak``,
        ``unknown``) and ``uns[key_added]`` (params, groups, evidence, candidates).
    copy
        Return a modified copy instead of writing into ``adata``.
    cell_types
        The canonical vocabulary (default: textcell's table, :class:`textcell.ontology.CellTypes`).
    consensus
        Let a type outside the vocabulary be verified with the genes at least this many marker
        databases list for its Cell Ontology term. ``None`` (default): such types are ``weak`` at
        best — measured, every agreement level verified wrong types on the validation data
        (:mod:`textcell.ontology.databases`).
    subtypes
        Refine verified labels into subtypes (:mod:`textcell.annotation.refine`): a verified group
        whose type has subtypes in the vocabulary is sub-clustered (Leiden on the neighbour graph
        restricted to its cells, as scanpy's ``restrict_to``; the graph is
        ``obsp[groupby + '_connectivities']`` or ``obsp['connectivities']``, else scanpy's standard
        pipeline's), and a sub-cluster takes a
        subtype only when its own markers verify it by the same rules; the rest of the group
        keeps its label. When a group is refined, the groups the labels belong to are written
        to ``obs[key_added + '_group']`` (``params['groupby']``; ``params['refined_from']`` is
        ``groupby``).
    seed
        Random seed of the sub-clustering (and of the graph, when it is built).

    Returns
    -------
    AnnData or None
        ``None``, or a copy when ``copy=True``. :meth:`AnnotationResult.from_adata
        <textcell.annotation.AnnotationResult.from_adata>` gives the result as an object (tables,
        dot plot).
    """
    from ..genes import GeneCorpus, GeneResolver
    from ..genes.ids import detect_species

    thresholds = thresholds or Thresholds()
    groups = _groups(adata, groupby)
    corpus = GeneCorpus.load()
    resolver = GeneResolver(corpus)
    detected = species == "auto"
    if detected:
        species = detect_species(
            list(map(str, adata.raw.var_names if use_raw and adata.raw else adata.var_names))
        )
    vocabulary = cell_types if cell_types is not None else CellTypes.bundled()
    vocabulary = vocabulary.for_tissue(tissue).for_species(species, resolver)
    table = load_markers(markers, tissue=tissue, species=species, path=marker_path, resolver=resolver)
    if isinstance(markers, str) and markers.lower() == "textcell":
        table = table[table["cell_type"].isin(vocabulary.types)]
    table = _on_vocabulary(table, vocabulary)
    expression, symbols = _expression(adata, layer, use_raw, resolver, species)

    wanted = set(table["gene"]) | {g for t in vocabulary.types.values() for g in (*t.positive, *t.negative)}
    first = {s: i for i, s in reversed(list(enumerate(symbols))) if s in wanted}
    measured = sorted(first.values())
    genes = pd.Index(symbols[measured])
    stats = group_statistics(expression[:, measured], groups, genes)
    support = supported(stats, thresholds)
    against = contradicting(stats, thresholds)
    top_genes = _top_genes(expression, symbols, groups, n_genes)

    proposals = [sources.from_markers(support, table, vocabulary)]
    if isinstance(markers, str) and markers.lower() in RESOURCES:  # a database: textcell's types too
        proposals.append(sources.from_vocabulary(support, vocabulary))
    used = ["markers"]
    text_source = _text_candidates(adata, text, text_model, genes_key, top_genes, vocabulary, table, corpus)
    if text_source is not None:
        proposals.append(sources.best_per_group(text_source[0], TEXT_CANDIDATES))
        used.append("text")
    if reference is not None:
        proposals.append(
            _reference_candidates(adata, groups, reference, reference_labels, use_rep, vocabulary)
        )
        used.append("reference")
    if chat is not None:
        named = chat.propose({g: top_genes[g] for g in groups.categories}, tissue=_tissue_text(tissue))
        rows = [(g, sources.in_vocabulary(n, vocabulary), "chat", 1.0) for g, n in named.items()]
        proposals.append(pd.DataFrame(rows, columns=sources.COLUMNS))
        used.append("chat")
    proposed = pd.concat([p for p in proposals if len(p)] or [proposals[0]], ignore_index=True)

    ranked = {str(g): _ranked(proposed, g) for g in groups.categories}
    agreed = _consensus(ranked, vocabulary, table, consensus, species, resolver)
    trust = not (isinstance(markers, str) and markers.lower() in ("textcell", *RESOURCES))
    decisions = [
        decide(g, names, support, vocabulary, table, trust_markers=trust, consensus=agreed, against=against)
        for g, names in ranked.items()
    ]
    sizes = pd.Series(np.asarray(groups.codes)).value_counts()
    labelled_by, split = groupby, []
    if subtypes:
        graph, graph_source = _neighbour_graph(adata, groupby, expression, seed)
        refinement = refine.refine_subtypes(
            decisions, groups, expression, measured, genes, stats, vocabulary, table, thresholds, graph,
            seed=seed, trust_markers=trust, consensus=agreed,
        )  # fmt: skip
        split = refinement.split
    if split:
        labelled_by = f"{key_added}_group"
        first = {d.group: d.label for d in decisions}
        decisions, groups, stats = refinement.decisions, refinement.groups, refinement.stats
        sizes = pd.Series(np.asarray(groups.codes)).value_counts()
        fresh = _top_genes(expression, symbols, groups, n_genes)
        top_genes = {g: top_genes.get(g, fresh[g]) for g in groups.categories.astype(str)}
        offered = [(d.group, first[d.refined_from], "group", 1.0) for d in decisions if d.refined_from]
        proposed = pd.concat([proposed, pd.DataFrame(offered, columns=sources.COLUMNS)], ignore_index=True)
    ontology = CellOntology.bundled()
    params = {
        "groupby": labelled_by,
        **({"refined_from": groupby} if split else {}),
        "markers": markers if isinstance(markers, str) else "user table",
        "tissue": _tissue_text(tissue) or "",
        "species": species,
        "species_detected": detected,
        "sources": used,
        "thresholds": thresholds.as_dict(),
        "min_markers": MIN_MARKERS,
        "min_share": MIN_SHARE,
        "separation": SEPARATION,
        "consensus_sources": consensus if consensus is not None else 0,
        "subtypes": {
            "refine": bool(subtypes),
            **({"graph": graph_source} if subtypes else {}),
            "resolution": refine.RESOLUTION,
            "min_cells": refine.MIN_CELLS,
            "seed": seed,
            "groups_split": ", ".join(split),
        },
        "n_cell_types": len(vocabulary),
        "cell_ontology": f"CL {ontology.version}",
        "n_genes": n_genes,
        "n_marker_rows": len(table),
        "n_markers_unresolved": int(table.attrs.get("unresolved", 0)),
        "n_markers_measured": len(genes),
        "textcell_version": version("textcell"),
        **({"text_model": text_source[1]} if text_source else {}),
        **({"chat": chat.provenance()} if chat is not None else {}),
    }
    result = AnnotationResult(
        groups=_group_table(
            decisions, groups, sizes, vocabulary, table, proposed, top_genes, stats, thresholds
        ),
        evidence=_evidence_table(decisions, stats),
        candidates=proposed,
        params=params,
        text_scores=text_source[0] if text_source is not None else None,
    )
    adata = adata.copy() if copy else adata
    if split:
        adata.obs[labelled_by] = pd.Categorical(np.asarray(groups).astype(str), categories=groups.categories)
    elif f"{key_added}_group" in adata.obs:  # an earlier annotation's refined groups
        del adata.obs[f"{key_added}_group"]
    result.to_adata(adata, key_added=key_added)
    return adata if copy else None


def _neighbour_graph(adata, groupby, expression, seed):
    """The cells' neighbour graph for sub-clustering (a function that returns it, built only when
    needed) and where it comes from: the graph the groups were found on when
    :func:`~textcell.annotation.clusters.standard_clusters` made them
    (``obsp[groupby + '_connectivities']``), else scanpy's neighbours (``obsp['connectivities']``,
    the graph groups are usually found on), else the standard pipeline's."""
    from ..annotation.clusters import standard_graph

    for key in (f"{groupby}_connectivities", "connectivities"):
        if key in adata.obsp:
            return (lambda key=key: sparse.csr_matrix(adata.obsp[key])), f"obsp[{key!r}]"
    return lambda: standard_graph(expression, seed=seed), f"standard pipeline (seed {seed})"


def _on_vocabulary(table: pd.DataFrame, vocabulary: CellTypes) -> pd.DataFrame:
    """Marker table names on one vocabulary: a type of the table under its table name, another CL
    term under its CL label, anything else as it is."""
    ontology = CellOntology.bundled()
    by_term = {t.cell_ontology: n for n, t in vocabulary.types.items()}

    def name(cell_type: str, term: str) -> str:
        known = vocabulary.canonical_name(cell_type) or by_term.get(term)
        return known or (ontology.label(term) if term in ontology else cell_type)

    pairs = table[["cell_type", "cell_ontology"]].drop_duplicates()
    mapped = {(c, t): name(str(c), str(t)) for c, t in pairs.itertuples(index=False)}
    names = [mapped[pair] for pair in zip(table["cell_type"], table["cell_ontology"], strict=True)]
    out = table.assign(cell_type=names)
    out.attrs = dict(table.attrs)
    return out


def _consensus(ranked, vocabulary, table, consensus, species, resolver):
    """The marker databases' agreed markers, loaded only when a candidate is a CL term outside the
    vocabulary (``None`` when off or not needed)."""
    if consensus is None:
        return None
    outside = {n for names in ranked.values() for n in names if n not in vocabulary}
    ontology = CellOntology.bundled()
    terms = set(table.loc[table["cell_type"].isin(outside), "cell_ontology"]) | {
        ontology.find(n) for n in outside
    }
    if not terms - {"", None}:
        return None
    return _cached_consensus(species, consensus, resolver)


_CONSENSUS_CACHE: dict = {}


def _cached_consensus(species, min_sources, resolver):
    key = (species, min_sources)
    if key not in _CONSENSUS_CACHE:
        _CONSENSUS_CACHE[key] = consensus_markers(species=species, min_sources=min_sources, resolver=resolver)
    return _CONSENSUS_CACHE[key]


def _groups(adata: ad.AnnData, groupby: str) -> pd.Categorical:
    if groupby not in adata.obs:
        raise InputError(
            f"obs[{groupby!r}] not found; cluster first (e.g. scanpy.tl.leiden) or pass the column "
            f"holding the groups. obs columns: {list(adata.obs.columns)}."
        )
    if adata.obs[groupby].isna().any():
        raise InputError(f"obs[{groupby!r}] has missing values; every cell needs a group.")
    groups = pd.Categorical(adata.obs[groupby].astype(str))
    if len(groups.categories) < 2:
        raise InputError(
            f"obs[{groupby!r}] has a single group ({groups.categories[0]!r}); annotation compares groups "
            "with each other: cluster the cells first (CLI: --groupby leiden) or pass a column with groups."
        )
    return groups


def _expression(adata, layer, use_raw, resolver, species) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Log-normalised CSR expression and the official symbol of each of its genes."""
    matrix, names, _ = log_expression(adata, layer=layer, use_raw=use_raw)
    var = adata.raw.var if use_raw else adata.var
    resolved = resolver.resolve(list(names), species=species, **symbol_fallback(var)).table["symbol"]
    symbols = np.where(resolved.to_numpy() != "", resolved.to_numpy(), np.asarray(names))
    return matrix, symbols.astype(str)


def _top_genes(expression, symbols, groups: pd.Categorical, n_genes: int) -> dict[str, list[str]]:
    """Each group's ``n_genes`` best marker genes by scanpy's Wilcoxon test (positive ones only)."""
    import scanpy as sc

    cells = pd.Index(np.arange(len(groups)).astype(str))  # str names: anndata warns on a RangeIndex
    work = ad.AnnData(expression, obs=pd.DataFrame({"group": groups}, index=cells))
    work.var_names = pd.Index(symbols)
    work.var_names_make_unique()
    work.uns["log1p"] = {"base": None}
    sc.tl.rank_genes_groups(work, "group", method="wilcoxon", n_genes=n_genes * 3, use_raw=False)
    frame = sc.get.rank_genes_groups_df(work, group=None)
    frame = frame[frame["logfoldchanges"] > 0]
    return {
        str(g): list(rows["names"].head(n_genes)) for g, rows in frame.groupby("group", observed=True)
    } | {str(g): [] for g in groups.categories if str(g) not in set(frame["group"].astype(str))}


def _text_candidates(adata, text, text_model, genes_key, top_genes, vocabulary, table, corpus):
    """The text-similarity proposals and the description model's name, or ``None`` when off."""
    from ..embed.base import get_embedder, missing_runtime
    from ..embed.texts import cached_texts, embed_texts

    if text is False:
        return None
    if genes_key not in adata.varm:
        if text:
            raise InputError(f"Did not find .varm[{genes_key!r}]; run textcell.tl.embed_genes first.")
        logger.info("No gene embeddings in .varm[%r]; text similarity is not used.", genes_key)
        return None
    params = adata.uns.get(genes_key, {}).get("params", {})
    embedder = text_model and get_embedder(text_model, corpus=corpus, view=params.get("view", "card"))
    if embedder is None:
        specs = (f"{params.get('backend')}:{params.get('model')}", params.get("model"), params.get("backend"))
        rebuild = _embedder_or_none(corpus, params)
        embedder = next((e for e in map(rebuild, specs) if e is not None), None)
    if embedder is None:
        if text:
            raise InputError(
                f"Cannot rebuild the model of .varm[{genes_key!r}] ({params.get('model')!r}) to embed "
                "the cell-type descriptions; pass text_model=."
            )
        logger.info("The model of .varm[%r] cannot embed new texts; text similarity is not used.", genes_key)
        return None
    position = {name: i for i, name in reversed(list(enumerate(adata.var_names)))}
    symbol_column = f"{genes_key}_symbol"
    if symbol_column in adata.var:
        position |= {s: i for i, s in reversed(list(enumerate(adata.var[symbol_column]))) if s}
    vectors = np.asarray(adata.varm[genes_key], dtype=np.float32)
    has = np.abs(vectors).sum(axis=1) > 0
    row_of = np.cumsum(has) - 1  # position among the embedded genes
    group_genes = {
        g: np.array([row_of[position[s]] for s in genes if s in position and has[position[s]]], dtype=int)
        for g, genes in top_genes.items()
    }
    texts = sources.descriptions(vocabulary, table)
    if (reason := missing_runtime(embedder)) and text is None:
        type_vectors, found = cached_texts(embedder, list(texts.values()))
        if not found.all():
            logger.warning(
                "Text similarity is not used: %d cell-type descriptions have no shipped vector and %s.",
                (~found).sum(),
                reason,
            )
            return None
    else:
        type_vectors = embed_texts(embedder, list(texts.values()))
    return sources.text_scores(group_genes, vectors[has], type_vectors, list(texts)), embedder.model_id


def _embedder_or_none(corpus, params):
    """A function: spec → the embedder it names if that is the one that made the gene embeddings."""
    from ..embed.base import get_embedder

    def rebuild(spec):
        try:
            embedder = get_embedder(spec, corpus=corpus, view=params.get("view", "card"))
        except (InputError, ValueError, TypeError):
            return None
        return embedder if embedder.fingerprint() == params.get("fingerprint") else None

    return rebuild


def _reference_candidates(adata, groups, reference, reference_labels, use_rep, vocabulary):
    if reference_labels is None or reference_labels not in reference.obs:
        raise InputError("reference= needs reference_labels=, the reference's obs column with its labels.")
    for name, data in (("adata", adata), ("reference", reference)):
        if use_rep not in data.obsm:
            raise InputError(f"{name}.obsm[{use_rep!r}] not found; run textcell.tl.embed_cells on both.")
    require_same(
        identity_of(reference, use_rep),
        identity_of(adata, use_rep),
        what=f"adata.obsm[{use_rep!r}] does not match the reference's: it",
        fix="Embed both with the same gene embeddings and recipe (textcell.tl.embed_genes / embed_cells).",
    )
    query, ref = np.asarray(adata.obsm[use_rep]), np.asarray(reference.obsm[use_rep])
    return sources.from_reference(query, groups, ref, reference.obs[reference_labels], vocabulary)


def _ranked(proposed: pd.DataFrame, group) -> list[str]:
    """A group's candidate names, best first: by source (markers, reference, text, chat), then score."""
    rows = proposed[proposed["group"].astype(str) == str(group)]
    order = rows.assign(rank=rows["source"].map(SOURCE_ORDER.index)).sort_values(
        ["rank", "score"], ascending=[True, False]
    )
    return list(dict.fromkeys(order["cell_type"]))


def _tissue_text(tissue) -> str | None:
    return tissue if isinstance(tissue, str) or tissue is None else ", ".join(tissue)


def _group_table(
    decisions: list[Decision], groups, sizes, vocabulary, table, proposed, top_genes, stats, thresholds
) -> pd.DataFrame:
    ontology = CellOntology.bundled()
    terms = dict(zip(table["cell_type"], table["cell_ontology"], strict=True))
    rows = []
    for code, decision in enumerate(decisions):
        evidence = decision.evidence
        proposers = proposed[
            (proposed["group"].astype(str) == decision.group) & (proposed["cell_type"] == decision.label)
        ]["source"]
        known = vocabulary.types.get(decision.label)
        term = (
            known.cell_ontology
            if known
            else (terms.get(decision.label) or ontology.find(decision.label) or "")
        )
        rows.append(
            {
                "group": decision.group,
                "n_cells": int(sizes.get(code, 0)),
                "label": decision.label,
                "status": decision.status,
                "quality": quality(decision, stats, min_fraction=thresholds.min_fraction),
                "cell_ontology": term if decision.status != "unknown" else "",
                "cell_ontology_label": ontology.label(term) if term and decision.status != "unknown" else "",
                "chain": " > ".join(decision.chain),
                "depth": len(decision.chain),
                "basis": evidence.basis if evidence else "",
                "supporting": ", ".join(evidence.supporting) if evidence else "",
                "contradicting": ", ".join(evidence.contradicting) if evidence else "",
                "missing": ", ".join(evidence.missing) if evidence else "",
                "alternatives": ", ".join(decision.alternatives),
                "refined_from": decision.refined_from,
                "inherited": decision.inherited,
                "sources": ", ".join(sorted(set(proposers))),
                "top_genes": ", ".join(top_genes.get(decision.group, [])[:10]),
            }
        )
    return pd.DataFrame(rows)


def _evidence_table(decisions: list[Decision], stats: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (group, checked type, marker); ``chain_level`` is the type's place on the
    label's verification chain (0: its root; -1: not on it)."""
    rows = []
    for decision in decisions:
        level = {name: i for i, name in enumerate(decision.chain)}
        for name, check in decision.checks.items():
            for role, genes in (
                ("supporting", check.supporting),
                ("missing", check.missing),
                ("contradicting", check.contradicting),
            ):
                rows += [
                    {
                        "group": decision.group,
                        "cell_type": name,
                        "check": check.status,
                        "chosen": name == decision.label,
                        "chain_level": level.get(name, -1),
                        "basis": check.basis,
                        "marker": gene,
                        "role": role,
                        **{k: float(stats[k].at[decision.group, gene]) for k in EVIDENCE_STATS},
                    }
                    for gene in genes
                ]
    columns = [
        "group",
        "cell_type",
        "check",
        "chosen",
        "chain_level",
        "basis",
        "marker",
        "role",
        *EVIDENCE_STATS,
    ]
    return pd.DataFrame(rows, columns=columns)


EVIDENCE_STATS = ("fraction", "mean", "reference_fraction", "log2fc")
