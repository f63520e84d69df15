"""Reverse perturbation prediction: which perturbation caused an observed shift?

A fitted :class:`~textcell.perturb.PerturbationModel` predicts the shift of every candidate
perturbation (seen or unseen genes, singles ``A`` and combinations ``A+B``); the candidates are
ranked by the Pearson correlation of their predicted shift with the observed one, over all genes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import combinations

import anndata as ad
import numpy as np
import pandas as pd

from ..errors import InputError
from .data import log_expression
from .metrics import pearson
from .model import PerturbationModel


def candidate_conditions(genes: Iterable[str], *, pairs: bool = False, sep: str = "+") -> list[str]:
    """Every gene as a single perturbation and, with ``pairs``, every unordered pair ``A+B``."""
    genes = list(dict.fromkeys(str(g) for g in genes))
    out = list(genes)
    if pairs:
        out += [f"{a}{sep}{b}" for a, b in combinations(genes, 2)]
    return out


def default_candidates(model: PerturbationModel) -> list[str]:
    """The model's training conditions and the single perturbation of every gene in them."""
    symbols = model.resolution["symbol"].astype(str).tolist() if len(model.resolution) else []
    return list(dict.fromkeys([*model.conditions, *symbols]))


def observed_shift(
    adata: ad.AnnData,
    condition: str,
    *,
    condition_key: str = "perturbation",
    control: str = "control",
    genes: Sequence[str] | None = None,
    layer: str | None = None,
    normalize: str = "auto",
) -> pd.Series:
    """Mean log-expression of the ``condition`` cells minus that of the ``control`` cells, over
    ``genes`` (all of ``adata``'s by default)."""
    if condition_key not in adata.obs:
        raise InputError(f"No obs[{condition_key!r}] column; pass condition_key=.")
    labels = adata.obs[condition_key].astype(str).to_numpy()
    for label, what in ((condition, "query"), (control, "control")):
        if not (labels == label).any():
            raise InputError(
                f"No {what} cells labelled {label!r} in obs[{condition_key!r}] "
                f"(found {', '.join(map(repr, pd.unique(labels)[:10]))})."
            )
    if genes is not None:
        missing = [g for g in genes if g not in adata.var_names]
        if missing:
            raise InputError(
                f"{len(missing):,} of the model's genes are not in the data (e.g. {missing[:5]}); "
                "reverse prediction needs the genes the model predicts."
            )
        adata = adata[:, list(genes)]
    cells = adata[(labels == condition) | (labels == control)]
    expression, _ = log_expression(cells, layer=layer, normalize=normalize)
    is_query = cells.obs[condition_key].astype(str).to_numpy() == condition
    shift = expression[is_query].mean(0, dtype=np.float64) - expression[~is_query].mean(0, dtype=np.float64)
    return pd.Series(shift, index=pd.Index(cells.var_names.astype(str)), name=condition)


def rank_perturbations(
    model: PerturbationModel,
    shift: pd.Series | np.ndarray,
    candidates: Iterable[str] | None = None,
    *,
    adata: ad.AnnData | None = None,
    layer: str | None = None,
) -> pd.DataFrame:
    """Rank candidate perturbations by how well their predicted shift matches ``shift``.

    Parameters
    ----------
    model
        A fitted perturbation model.
    shift
        The observed shift from control (a Series indexed by the model's genes, or an array in
        ``model.genes`` order), e.g. from :func:`observed_shift`.
    candidates
        Condition labels (``A``, ``A+B``); by default the training conditions and the single
        perturbation of each of their genes (:func:`default_candidates`).
    adata, layer
        Control cells the predictions start from (see :meth:`PerturbationModel.predict`).

    Returns
    -------
    One row per candidate, best first: ``condition``, ``pearson`` (predicted vs observed shift,
    all genes), ``rank`` (1 = best; ties share the better rank) and ``seen`` (a training condition).
    """
    shift = _shift_array(model, shift)
    labels = _candidates(model, candidates)
    predicted, control = model.predict_with_control(labels, adata=adata, layer=layer)
    deltas = predicted.to_numpy() - control.to_numpy()
    return _ranking(model, labels, np.array([pearson(delta, shift) for delta in deltas]))


def nearest_shift_ranking(
    model: PerturbationModel, shift: pd.Series | np.ndarray, candidates: Iterable[str] | None = None
) -> pd.DataFrame:
    """The baseline without a model: rank candidates by their *observed* training shift.

    A candidate that was a training condition (the same genes, in any order) is scored by the
    Pearson correlation of its observed shift with ``shift``; a combination whose genes were all
    perturbed alone in training, by the sum of their observed shifts; any other candidate has no
    shift to compare and ranks last (``pearson`` NaN). Same table as :func:`rank_perturbations`.
    """
    shift = _shift_array(model, shift)
    labels = _candidates(model, candidates)
    observed = {frozenset(c.genes): model.deltas[i] for i, c in enumerate(model.conditions.values())}
    singles, resolved = model._singles, model._resolve(labels)
    scores = []
    for label in labels:
        genes = frozenset(resolved[label].genes)
        if genes in observed:
            scores.append(pearson(observed[genes], shift))
        elif genes and all(g in singles for g in genes):
            scores.append(pearson(np.sum([singles[g] for g in genes], axis=0), shift))
        else:
            scores.append(np.nan)
    return _ranking(model, labels, np.array(scores, dtype=np.float64))


def _shift_array(model: PerturbationModel, shift) -> np.ndarray:
    model._check_fitted()
    if isinstance(shift, pd.Series):
        model.check_genes(shift.index)
        shift = shift.reindex(model.genes).to_numpy(dtype=np.float64)
    shift = np.asarray(shift, dtype=np.float64)
    if shift.shape != (len(model.genes),):
        raise InputError(
            f"The shift has {shift.size:,} values; the model predicts {len(model.genes):,} genes."
        )
    return shift


def _candidates(model: PerturbationModel, candidates) -> list[str]:
    labels = list(dict.fromkeys(default_candidates(model) if candidates is None else map(str, candidates)))
    if not labels:
        raise InputError("Name at least one candidate perturbation.")
    return labels


def _ranking(model: PerturbationModel, labels: list[str], scores: np.ndarray) -> pd.DataFrame:
    table = pd.DataFrame(
        {"condition": labels, "pearson": scores, "seen": [c in model.conditions for c in labels]}
    )
    table["rank"] = table["pearson"].rank(ascending=False, method="min", na_option="bottom").astype(int)
    table = table.sort_values(["rank", "condition"], kind="stable").reset_index(drop=True)
    return table[["condition", "pearson", "rank", "seen"]]
