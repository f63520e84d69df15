"""AnnData tools, scanpy style: ``adata`` first, options keyword-only, results under ``key_added``."""

from .annotate import annotate
from .classifier import CellClassifier as CellClassifier
from .classifier import predict
from .classifier import train_classifier as train_classifier
from .embed_cells import embed_cells, embed_cells_to_file
from .embed_genes import embed_genes
from .perturb import PerturbationModel as PerturbationModel
from .perturb import perturb_predict, perturb_rank
from .programs import gene_programs
from .resolve_genes import resolve_genes
from .scgpt import scgpt_embed

# CellClassifier, train_classifier and PerturbationModel return a model, not an AnnData result:
# importable from here, but not in __all__, which lists the AnnData tools (adata first, key_added, copy).
__all__ = [
    "annotate",
    "embed_cells",
    "embed_cells_to_file",
    "embed_genes",
    "gene_programs",
    "perturb_predict",
    "perturb_rank",
    "predict",
    "resolve_genes",
    "scgpt_embed",
]
