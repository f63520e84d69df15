"""textcell: what language models know about genes, for single-cell RNA-seq analysis."""

from importlib.metadata import version as _version

from . import annotation, datasets, embed, genes, markers, ontology, perturb, report, tl
from ._settings import settings

__version__ = _version("textcell")
__all__ = [
    "annotation", "datasets", "embed", "genes", "markers", "ontology", "perturb", "report", "settings", "tl",
]  # fmt: skip
