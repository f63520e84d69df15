"""Predicting expression responses to unseen gene perturbations from the genes' text embeddings.

:class:`PerturbationModel` fits and predicts; ``metrics`` scores predictions on shifts from
control; baselines (train-mean, additive) sit beside the embedding models, because a model
that does not beat them has learnt nothing worth its cost.
"""

from .conditions import Condition, resolve_conditions
from .metrics import METRICS, perturbation_metrics, top_de_genes
from .model import METHODS, PerturbationModel
from .scouter import ScouterConfig

__all__ = [
    "METHODS",
    "METRICS",
    "Condition",
    "PerturbationModel",
    "ScouterConfig",
    "perturbation_metrics",
    "resolve_conditions",
    "top_de_genes",
]
