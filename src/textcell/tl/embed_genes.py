"""tl.embed_genes: a text embedding for every gene of a dataset, into ``varm``."""

from __future__ import annotations

import os

import anndata as ad
import numpy as np

from .._defaults import DEFAULT_MODEL, DEFAULT_VIEW
from ..embed.base import get_embedder
from ..embed.gene_embeddings import gene_vectors, provenance_of
from ..errors import GeneIdError
from ..genes.corpus import GeneCorpus
from ..genes.ids import GeneResolver
from ._provenance import base_params
from .resolve_genes import resolve_into


def embed_genes(
    adata: ad.AnnData,
    *,
    model=DEFAULT_MODEL,
    view: str = DEFAULT_VIEW,
    summaries: str | os.PathLike | None = None,
    corpus: GeneCorpus | None = None,
    species: str = "auto",
    layer: str | None = None,
    cache: bool = True,
    key_added: str = "textcell",
    copy: bool = False,
) -> ad.AnnData | None:
    """Embed the text of every gene in ``adata.var_names``.

    Parameters
    ----------
    adata
        Annotated data; ``var_names`` may be any identifiers the GeneResolver takes.
    model
        An embedder name (see :func:`textcell.embed.available`) or instance. The default
        (:mod:`textcell.embed.defaults`) is served from vectors shipped with textcell; the
        previous default is ``model="all-MiniLM-L6-v2", view="card"``.
    view
        Text view: ``function`` (the default: summary, name and GO terms, gene symbols masked),
        ``name``, ``card``, ``summary`` or ``full``. Genes the view gives no text (``function``:
        neither a RefSeq summary nor GO terms) get no embedding.
    summaries
        RefSeq summaries to attach to the corpus, replacing the bundled ones for those genes.
    corpus
        Gene corpus; the bundled human corpus by default.
    species
        ``"human"``, ``"mouse"`` or ``"auto"``.
    layer
        Expression used for the coverage figure.
    cache
        Read and write the on-disk vector cache.
    key_added
        Key in ``varm`` and ``uns``, and prefix of the ``var`` columns.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Sets ``varm[key_added]`` (one row per gene; zeros
    where a gene has no embedding), ``var['{key_added}_has_embedding']``, the resolver's
    ``var['{key_added}_entrez' / '_symbol' / '_route']`` columns, and ``uns[key_added]`` with
    ``params`` (model, fingerprint, view, corpus version, genes matched/missing) and ``coverage``.
    """
    adata = adata.copy() if copy else adata
    corpus = corpus or GeneCorpus.load()
    if summaries is not None:
        corpus = corpus.with_summaries(summaries)
    result = resolve_into(
        adata, resolver=GeneResolver(corpus), species=species, layer=layer, key_added=key_added
    )
    if len(result.matched) == 0:
        examples = ", ".join(map(str, adata.var_names[:3]))
        raise GeneIdError(
            f"None of the {adata.n_vars:,} var_names is a gene identifier textcell resolves (e.g. "
            f"{examples}): put gene symbols, Ensembl or Entrez IDs in var_names (or a symbol column in var)."
        )
    embedder = get_embedder(model, corpus=corpus, view=view)
    entrez = list(dict.fromkeys(result.matched))
    vectors, found = gene_vectors(embedder, entrez, corpus=corpus, view=view, cache=cache)
    row = {e: i for i, (e, ok) in enumerate(zip(entrez, found, strict=True)) if ok}

    var_entrez = adata.var[f"{key_added}_entrez"].to_numpy()
    has = np.array([e in row for e in var_entrez], dtype=bool)
    matrix = np.zeros((adata.n_vars, vectors.shape[1]), dtype=np.float32)
    matrix[has] = vectors[[row[e] for e in var_entrez[has]]]
    adata.varm[key_added] = matrix
    adata.var[f"{key_added}_has_embedding"] = has
    adata.uns[key_added] = {
        "params": {
            **base_params(corpus),
            **provenance_of(embedder, corpus=corpus, view=view),
            "species": result.report.species,
            "n_genes": int(adata.n_vars),
            "n_embedded": int(has.sum()),
            "n_missing": int((~has).sum()),
        },
        "coverage": result.report.to_dict(),
    }
    return adata if copy else None
