"""Fitted models with one contract (:class:`FittedModel`): save/load with format and version checks,
``is_fitted``, and a check that new data were prepared like the training data."""

from .base import FittedModel
from .classifier import CellClassifier

# ``textcell.models.scgpt``: a pure-torch scGPT (imported on use: it needs torch)

__all__ = ["CellClassifier", "FittedModel"]
