"""tl.resolve_genes: map var_names to corpus genes and record the coverage report."""

from __future__ import annotations

import anndata as ad
import pandas as pd

from .._expression import gene_totals
from ..errors import InputError
from ..genes.ids import GeneResolver, Resolution, default_resolver, is_ensembl_id
from ._provenance import base_params

AUTO = "auto"
# var columns that hold gene symbols in common files (10x/scanpy, CELLxGENE, Seurat, BioMart,
# monocle), in the order they are preferred; matched ignoring case.
SYMBOL_COLUMNS = (
    "symbol",
    "symbols",
    "gene_symbol",
    "gene_symbols",
    "feature_name",
    "gene_name",
    "gene_names",
    "features",
    "gene_short_name",
    "hgnc_symbol",
    "external_gene_name",
)


def resolve_genes(
    adata: ad.AnnData,
    *,
    species: str = "auto",
    layer: str | None = None,
    resolver: GeneResolver | None = None,
    symbol_column: str | None = AUTO,
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
    symbol_column
        A ``var`` column of gene symbols that ``var_names`` which do not resolve on their own
        (unmatched or ambiguous Ensembl IDs) fall back to (route ``var_symbol``). ``"auto"``
        (default): when most ``var_names`` are Ensembl IDs, the first of
        :data:`SYMBOL_COLUMNS` that ``var`` has (``symbol``, ``gene_symbols``, ``feature_name``,
        ``gene_name`` ...); ``None``: no fallback.
    key_added
        Prefix of the ``var`` columns and key in ``uns``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Sets ``var['{key_added}_entrez']``,
    ``var['{key_added}_symbol']``, ``var['{key_added}_route']`` (a route name,
    ``"ambiguous"`` or ``"unmatched"``) and ``uns[key_added]`` with ``params`` (including
    ``symbol_column``, the column used or ``""``) and ``coverage``.
    """
    adata = adata.copy() if copy else adata
    resolver = resolver or default_resolver()
    column = find_symbol_column(adata.var, symbol_column)
    result = resolve_into(
        adata, resolver=resolver, species=species, layer=layer, key_added=key_added, symbol_column=column
    )
    adata.uns[key_added] = {
        "params": {
            **base_params(resolver.corpus),
            "species": result.report.species,
            "layer": layer or "",
            "symbol_column": column or "",
        },
        "coverage": result.report.to_dict(),
    }
    return adata if copy else None


def resolve_into(
    adata: ad.AnnData,
    *,
    resolver: GeneResolver,
    species: str,
    layer: str | None,
    key_added: str,
    symbol_column: str | None = AUTO,
) -> Resolution:
    """Resolve var_names (falling back to a symbol column) and write the
    ``{key_added}_entrez/_symbol/_route`` columns."""
    result = resolver.resolve(
        adata.var_names,
        species=species,
        weights=gene_totals(adata, layer),
        **symbol_fallback(adata.var, symbol_column),
    )
    for column in ("entrez", "symbol", "route"):
        adata.var[f"{key_added}_{column}"] = result.table[column].to_numpy()
    return result


def symbol_fallback(var: pd.DataFrame, symbol_column: str | None = AUTO) -> dict:
    """Keyword arguments for :meth:`GeneResolver.resolve` that fall back to ``var``'s symbols."""
    column = find_symbol_column(var, symbol_column)
    if column is None:
        return {}
    return {"symbols": var[column].tolist(), "symbol_column": f"var[{column!r}]"}


def find_symbol_column(var: pd.DataFrame, symbol_column: str | None = AUTO) -> str | None:
    """The ``var`` column to fall back to: the one named, or the one ``"auto"`` detects, or None."""
    if symbol_column is None:
        return None
    if symbol_column != AUTO:
        if symbol_column not in var.columns:
            raise InputError(
                f"var[{symbol_column!r}] not found; var columns: {list(var.columns)}. Pass "
                "symbol_column=None to resolve var_names alone."
            )
        return symbol_column
    if not _mostly_ensembl(var.index):
        return None
    by_lower = {str(c).lower(): c for c in reversed(var.columns)}
    for name in SYMBOL_COLUMNS:
        column = by_lower.get(name)
        if column is not None and _holds_symbols(var[column]):
            return column
    return None


def _mostly_ensembl(values) -> bool:
    values = [str(v) for v in values]
    return sum(map(is_ensembl_id, values)) > len(values) / 2


def _holds_symbols(column: pd.Series) -> bool:
    values = column.dropna()
    if isinstance(column.dtype, pd.CategoricalDtype):
        values = values.astype(str) if pd.api.types.is_string_dtype(column.cat.categories) else []
    elif not pd.api.types.is_string_dtype(values):
        return False
    return len(values) > 0 and not _mostly_ensembl(values)
