"""AnnData tools, scanpy style: ``adata`` first, options keyword-only, results under ``key_added``."""

from .embed_cells import embed_cells, embed_cells_to_file
from .embed_genes import embed_genes
from .resolve_genes import resolve_genes

__all__ = ["embed_cells", "embed_cells_to_file", "embed_genes", "resolve_genes"]
