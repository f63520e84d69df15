"""Gene-program plots: the heat map of program activity per cell group.

Draws into a new matplotlib ``Figure`` (no pyplot state) and returns it, like :mod:`.benchmark`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..errors import InputError


def program_heatmap(adata, *, key: str = "textcell_programs", n_genes: int = 4, title: str = ""):
    """Programs × groups: the mean program score of each group, z-scored across groups per program.

    ``adata`` has the result of :func:`textcell.tl.gene_programs` run with ``groupby``; each row is
    labelled with the program's name, size and first ``n_genes`` genes.
    """
    result = adata.uns.get(key, {}) if hasattr(adata, "uns") else {}
    if "activity" not in result:
        raise InputError(
            f"No .uns[{key!r}]['activity']; run textcell.tl.gene_programs(adata, groupby=...) first."
        )
    activity = result["activity"]
    values = np.asarray(activity["mean_score"], dtype=np.float64)
    spread = values.std(axis=1, keepdims=True)
    z = np.divide(
        values - values.mean(axis=1, keepdims=True), spread, out=np.zeros_like(values), where=spread > 0
    )
    names = [str(n) for n in activity["programs"]]
    groups = [str(g) for g in activity["groups"]]
    labels = []
    for name in names:
        genes = [str(g) for g in result["programs"][name]]
        labels.append(f"{name} ({len(genes)}): {', '.join(genes[:n_genes])}")
    width = 2.8 + 0.55 * len(groups) + 0.055 * max(len(label) for label in labels)
    figure = Figure(figsize=(width, 1.2 + 0.24 * len(names)), layout="constrained")
    axis = figure.subplots()
    limit = max(1.0, float(np.abs(z).max()))
    image = axis.imshow(z, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit)
    axis.set_xticks(range(len(groups)), groups, rotation=45, ha="right", fontsize="small")
    axis.set_yticks(range(len(names)), labels, fontsize="x-small")
    axis.set_xlabel(str(activity["groupby"]))
    axis.set_title(title or "program activity (z-score of the mean score across groups)", fontsize="small")
    figure.colorbar(image, ax=axis, shrink=0.6, label="z")
    return figure
