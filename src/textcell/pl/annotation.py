"""The evidence dot plot: each group's label against the markers that prove or contradict it."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

ROLE_EDGE = {"supporting": "black", "missing": "none", "contradicting": "red"}


def evidence_dotplot(result, *, max_markers: int = 6):
    """Rows: groups (with label and status); columns: the canonical markers of the chosen labels.

    Dot size is the fraction of the group's cells expressing the marker, colour its mean
    log-normalised expression; a black ring marks a supporting marker, a red ring a contradicting
    one. ``result`` is an :class:`~textcell.annotation.result.AnnotationResult`.
    """
    chosen = result.evidence[result.evidence["chosen"].astype(str) == "True"]
    groups = result.groups
    markers: list[str] = []
    for group in groups["group"]:
        rows = chosen[chosen["group"] == group].sort_values("role", key=lambda r: r != "supporting")
        markers += [m for m in rows["marker"].head(max_markers) if m not in markers]
    lookup = chosen.drop_duplicates(["group", "marker"]).set_index(["group", "marker"])
    figure = Figure(
        figsize=(2.8 + 0.32 * max(len(markers), 1), 1.0 + 0.34 * len(groups)), layout="constrained"
    )
    axis = figure.subplots()
    points = [
        (x, y, lookup.loc[(group, marker)])
        for y, group in enumerate(groups["group"])
        for x, marker in enumerate(markers)
        if (group, marker) in lookup.index
    ]
    if points:
        xs, ys, rows = zip(*points, strict=True)
        image = axis.scatter(
            xs, ys,
            s=[20 + 180 * float(r["fraction"]) for r in rows],
            c=[float(r["mean"]) for r in rows],
            cmap="Reds", vmin=0,
            edgecolors=[ROLE_EDGE[r["role"]] for r in rows], linewidths=1.0,
        )  # fmt: skip
        figure.colorbar(image, ax=axis, fraction=0.03, label="mean expression")
    labels = [
        f"{g}: {lab} ({s})"
        for g, lab, s in zip(groups["group"], groups["label"], groups["status"], strict=True)
    ]
    axis.set_yticks(np.arange(len(groups)), labels, fontsize="small")
    axis.set_xticks(np.arange(len(markers)), markers, rotation=90, fontsize="small")
    axis.set_xlim(-0.7, max(len(markers), 1) - 0.3)
    axis.set_ylim(len(groups) - 0.5, -0.5)
    axis.set_title(
        "marker evidence (size: fraction expressing; ring: supporting / contradicting)", fontsize="small"
    )
    return figure


def annotation_umap(coordinates: np.ndarray, labels, status):
    """UMAP coloured by label and by status."""
    from .benchmark import embedding_umaps

    return embedding_umaps(
        {"UMAP": np.asarray(coordinates)},
        {"label": pd.Series(labels).to_numpy(), "status": pd.Series(status).to_numpy()},
    )
