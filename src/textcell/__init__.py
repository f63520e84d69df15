"""textcell: what language models know about genes, for single-cell RNA-seq analysis."""

from importlib.metadata import version as _version

from . import datasets, embed, genes, markers, tl
from ._settings import settings

__version__ = _version("textcell")
__all__ = ["datasets", "embed", "genes", "markers", "settings", "tl"]
