"""tl.perturb_predict: predicted responses to gene perturbations, into ``uns``.

Fit with :class:`~textcell.perturb.PerturbationModel` (``fit`` / ``save`` / ``load``); this tool
applies a fitted model to the control cells of ``adata``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import anndata as ad

from ..errors import InputError
from ..perturb import PerturbationModel
from ._provenance import base_params

__all__ = ["PerturbationModel", "perturb_predict"]


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
    if isinstance(model, str | os.PathLike):
        model = PerturbationModel.load(model, genes=adata.var_names)
    elif not isinstance(model, PerturbationModel):
        raise InputError(
            f"model must be a PerturbationModel or a saved model's path, not {type(model).__name__}."
        )
    adata = adata.copy() if copy else adata
    predicted, control_mean = model.predict_with_control(conditions, adata=adata, layer=layer)
    meta = model.metadata()
    embedding = meta["embedding"] or {}
    resolution = model.resolution
    adata.uns[key_added] = {
        "predicted": predicted,
        "delta": predicted - control_mean.to_numpy(),
        "control_mean": control_mean.to_numpy(),
        "params": {
            **base_params(model.corpus),
            "method": model.method,
            "model": str(embedding.get("model", "")),
            "fingerprint": str(embedding.get("fingerprint", "")),
            "view": model.view if embedding else "",
            "seed": model.seed,
            "normalisation": model.normalisation,
            "control": model.control,
            "condition_key": model.condition_key,
            "training_conditions": list(model.conditions),
            "perturbed_genes": resolution["name"].astype(str).tolist(),
            "perturbed_symbols": resolution["symbol"].astype(str).tolist(),
            "perturbed_routes": resolution["route"].astype(str).tolist(),
        },
    }
    return adata if copy else None
