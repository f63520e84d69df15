"""tl.perturb_predict and tl.perturb_rank: predicted responses to gene perturbations, and the
perturbations that best explain an observed response, into ``uns``.

Fit with :class:`~textcell.perturb.PerturbationModel` (``fit`` / ``save`` / ``load``); these tools
apply a fitted model to the cells of ``adata``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import anndata as ad

from ..errors import InputError
from ..perturb import PerturbationModel
from ._provenance import base_params

__all__ = ["PerturbationModel", "perturb_predict", "perturb_rank"]


def _model(model, adata: ad.AnnData) -> PerturbationModel:
    if isinstance(model, str | os.PathLike):
        return PerturbationModel.load(model, genes=adata.var_names)
    if not isinstance(model, PerturbationModel):
        raise InputError(
            f"model must be a PerturbationModel or a saved model's path, not {type(model).__name__}."
        )
    return model


def _model_params(model: PerturbationModel) -> dict:
    embedding = model.metadata()["embedding"] or {}
    return {
        **base_params(model.corpus),
        "method": model.method,
        "model": str(embedding.get("model", "")),
        "fingerprint": str(embedding.get("fingerprint", "")),
        "view": model.view if embedding else "",
        "seed": model.seed,
        "normalize": model.normalize,
        "control": model.control,
        "condition_key": model.condition_key,
        "training_conditions": list(model.conditions),
    }


def perturb_predict(
    adata: ad.AnnData,
    *,
    model: PerturbationModel | str | os.PathLike,
    conditions: Iterable[str] | None = None,
    layer: str | None = None,
    key_added: str = "textcell_perturb",
    copy: bool = False,
) -> ad.AnnData | None:
    """Predict the mean expression of perturbed cells, starting from the control cells of ``adata``.

    Parameters
    ----------
    adata
        Cells with the model's genes; the control-labelled cells (or all cells, when the model's
        condition column is absent) give the starting state.
    model
        A fitted :class:`~textcell.perturb.PerturbationModel` or the path of a saved one (loaded
        with a check that ``adata`` has its genes).
    conditions
        Labels to predict: genes ``A``, combinations ``A+B`` (resolved through the GeneResolver);
        the model's training conditions by default.
    layer
        Expression layer instead of ``X``.
    key_added
        Key in ``uns``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Sets ``uns[key_added]`` with ``predicted`` (conditions ×
    genes, mean log-normalised expression), ``delta`` (the predicted shift from the control mean),
    ``control_mean`` and ``params`` (method, embedding model and fingerprint, training conditions,
    how perturbed genes resolved).
    """
    model = _model(model, adata)
    adata = adata.copy() if copy else adata
    predicted, control_mean = model.predict_with_control(conditions, adata=adata, layer=layer)
    resolution = model.resolution
    adata.uns[key_added] = {
        "predicted": predicted,
        "delta": predicted - control_mean.to_numpy(),
        "control_mean": control_mean.to_numpy(),
        "params": {
            **_model_params(model),
            "perturbed_genes": resolution["name"].astype(str).tolist(),
            "perturbed_symbols": resolution["symbol"].astype(str).tolist(),
            "perturbed_routes": resolution["route"].astype(str).tolist(),
        },
    }
    return adata if copy else None


def perturb_rank(
    adata: ad.AnnData,
    *,
    model: PerturbationModel | str | os.PathLike,
    condition: str,
    condition_key: str | None = None,
    control: str | None = None,
    candidates: Iterable[str] | None = None,
    layer: str | None = None,
    key_added: str = "textcell_perturb_rank",
    copy: bool = False,
) -> ad.AnnData | None:
    """Reverse perturbation prediction: which candidate perturbation best explains the shift of
    the ``condition`` cells from the control cells of ``adata``?

    Every candidate's shift is predicted by ``model`` from the control cells of ``adata``; the
    candidates are ranked by the Pearson correlation, over the model's genes, of their predicted
    shift with the observed one (:func:`textcell.perturb.rank_perturbations`).

    Parameters
    ----------
    adata
        Cells with the model's genes: the query condition's and control cells.
    model
        A fitted :class:`~textcell.perturb.PerturbationModel` or a saved model's path.
    condition
        Label of the query cells in ``obs[condition_key]``.
    condition_key, control
        ``obs`` column of labels and the control label (default: the model's).
    candidates
        Condition labels (``A``, ``A+B``); by default the model's training conditions and the
        single perturbation of each of their genes.
    layer
        Expression layer instead of ``X``.
    key_added
        Key in ``uns``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None``, or a copy when ``copy=True``. Sets ``uns[key_added]`` with ``ranking`` (a DataFrame,
    best first: ``condition``, ``pearson``, ``rank``, ``seen``), ``observed_shift`` and ``params``.
    """
    from ..perturb import observed_shift, rank_perturbations

    model = _model(model, adata)
    model.check_genes(adata.var_names)
    adata = adata.copy() if copy else adata
    condition_key = condition_key or model.condition_key
    control = control or model.control
    shift = observed_shift(
        adata,
        condition,
        condition_key=condition_key,
        control=control,
        genes=model.genes,
        layer=layer,
        normalize=model.normalize,
    )
    labels = adata.obs[condition_key].astype(str).to_numpy() if condition_key in adata.obs else None
    start = adata if labels is None else adata[labels == control]
    ranking = rank_perturbations(model, shift, candidates, adata=start[:, model.genes], layer=layer)
    adata.uns[key_added] = {
        "ranking": ranking,
        "observed_shift": shift.to_numpy(),
        "params": {**_model_params(model), "condition": condition, "query_condition_key": condition_key},
    }
    return adata if copy else None
