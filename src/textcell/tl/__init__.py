"""AnnData tools, scanpy style: ``adata`` first, options keyword-only, results under ``key_added``."""

from .resolve_genes import resolve_genes

__all__ = ["resolve_genes"]
