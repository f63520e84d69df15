"""tl.resolve_genes: map var_names to corpus genes and record the coverage report."""

from __future__ import annotations

import anndata as ad

from .._expression import gene_totals
from ..genes.ids import GeneResolver, Resolution, default_resolver
from ._provenance import base_params


def resolve_genes(
    adata: ad.AnnData,
    *,
    species: str = "auto",
    layer: str | None = None,
    resolver: GeneResolver | None = None,
    key_added: str = "textcell_genes",
    copy: bool = False,
) -> ad.AnnData | None:
    """Resolve ``adata.var_names`` to canonical human genes.

    Parameters
    ----------
    adata
        Annotated data; ``var_names`` may be symbols, synonyms, Ensembl or Entrez IDs, or
        mouse genes.
    species
        ``"human"``, ``"mouse"`` or ``"auto"``.
    layer
        Expression used for the "fraction of total expression covered" figure
        (default ``X``; ``raw`` when ``X`` is scaled).
    resolver
        A :class:`~textcell.genes.GeneResolver`; the bundled human corpus by default.
    key_added
        Prefix of the ``var`` columns and key in ``uns``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Sets ``var['{key_added}_entrez']``,
    ``var['{key_added}_symbol']``, ``var['{key_added}_route']`` (a route name,
    ``"ambiguous"`` or ``"unmatched"``) and ``uns[key_added]`` with ``params`` and
    ``coverage``.
    """
    adata = adata.copy() if copy else adata
    resolver = resolver or default_resolver()
    result = resolve_into(adata, resolver=resolver, species=species, layer=layer, key_added=key_added)
    adata.uns[key_added] = {
        "params": {**base_params(resolver.corpus), "species": result.report.species, "layer": layer or ""},
        "coverage": result.report.to_dict(),
    }
    return adata if copy else None


def resolve_into(
    adata: ad.AnnData, *, resolver: GeneResolver, species: str, layer: str | None, key_added: str
) -> Resolution:
    """Resolve var_names and write the ``{key_added}_entrez/_symbol/_route`` columns."""
    result = resolver.resolve(adata.var_names, species=species, weights=gene_totals(adata, layer))
    for column in ("entrez", "symbol", "route"):
        adata.var[f"{key_added}_{column}"] = result.table[column].to_numpy()
    return result
