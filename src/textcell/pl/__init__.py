"""Plots: annotation evidence, benchmark bars, UMAPs by label and batch, confusion matrices."""

from .annotation import annotation_umap, evidence_dotplot
from .benchmark import confusion, embedding_umaps, metric_bars
from .programs import program_heatmap

__all__ = [
    "annotation_umap",
    "confusion",
    "embedding_umaps",
    "evidence_dotplot",
    "metric_bars",
    "program_heatmap",
]
