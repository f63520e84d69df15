"""Predicting expression responses to unseen gene perturbations from the genes' text embeddings.

:class:`PerturbationModel` fits and predicts; ``metrics`` scores predictions on shifts from
control; baselines (train-mean, additive) sit beside the embedding models, because a model
that does not beat them has learnt nothing worth its cost. ``reverse`` ranks candidate
perturbations for an observed shift.
"""

from .conditions import Condition, resolve_conditions
from .metrics import METRICS, perturbation_metrics, top_de_genes
from .model import METHODS, PerturbationModel
from .reverse import candidate_conditions, nearest_shift_ranking, observed_shift, rank_perturbations
from .scouter import ScouterConfig

__all__ = [
    "METHODS",
    "METRICS",
    "Condition",
    "PerturbationModel",
    "ScouterConfig",
    "candidate_conditions",
    "nearest_shift_ranking",
    "observed_shift",
    "perturbation_metrics",
    "rank_perturbations",
    "resolve_conditions",
    "top_de_genes",
]
