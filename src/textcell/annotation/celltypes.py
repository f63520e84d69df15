"""The vocabulary labels are verified in; it lives in :mod:`textcell.ontology.celltypes`."""

from ..ontology.celltypes import CellType, CellTypes, normalise_name

__all__ = ["CellType", "CellTypes", "normalise_name"]
