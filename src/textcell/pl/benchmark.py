"""Benchmark figures: bars with error bars, UMAPs by label and batch, confusion matrices.

Each function draws into a new matplotlib ``Figure`` (no pyplot state, no backend chosen at
import) and returns it; the caller saves it (``figure.savefig``) or displays it in a notebook.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def metric_bars(frame: pd.DataFrame, *, metric: str, title: str = ""):
    """Grouped bars of ``mean`` ± ``sd``: one group per ``dataset``, one bar per ``embedding``.

    ``frame`` is tidy: columns ``dataset``, ``embedding``, ``mean``, ``sd``.
    """
    datasets = list(dict.fromkeys(frame["dataset"]))
    embeddings = list(dict.fromkeys(frame["embedding"]))
    width = 0.8 / len(embeddings)
    figure = Figure(figsize=(3.6 + 1.9 * len(datasets), 3.4), layout="constrained")
    axis = figure.subplots()
    for j, embedding in enumerate(embeddings):
        rows = frame[frame["embedding"] == embedding].set_index("dataset").reindex(datasets)
        axis.bar(
            np.arange(len(datasets)) + (j - (len(embeddings) - 1) / 2) * width,
            rows["mean"], width, yerr=rows["sd"], capsize=3, label=embedding,
        )  # fmt: skip
    axis.set_xticks(np.arange(len(datasets)), datasets)
    axis.set_ylabel(metric)
    axis.set_title(title or metric)
    axis.legend(fontsize="small", frameon=False, bbox_to_anchor=(1.0, 1.0), loc="upper left")
    return figure


def embedding_umaps(umaps: dict[str, np.ndarray], colors: dict[str, np.ndarray]):
    """A grid of UMAPs: one column per embedding, one row per colouring (label, batch)."""
    figure = Figure(figsize=(3.0 * len(umaps) + 2.6, 3.0 * len(colors)), layout="constrained")
    axes = figure.subplots(len(colors), len(umaps), squeeze=False)
    for row, (key, values) in enumerate(colors.items()):
        categories = pd.Categorical(values)
        palette = matplotlib.colormaps["tab10" if len(categories.categories) <= 10 else "tab20"]
        for column, (embedding, coordinates) in enumerate(umaps.items()):
            axis = axes[row, column]
            for code, category in enumerate(categories.categories):
                mask = categories.codes == code
                axis.scatter(*coordinates[mask].T, s=1, color=palette(code % palette.N), label=category)
            axis.set_title(f"{embedding}\n{key}", fontsize="small")
            axis.set_xticks([])
            axis.set_yticks([])
        axes[row, -1].legend(
            fontsize="x-small", markerscale=5, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5)
        )
    return figure


def confusion(true, predicted, *, title: str = ""):
    """Row-normalised confusion matrix (fraction of each true label predicted as each label)."""
    table = pd.crosstab(
        pd.Series(true, name="true"), pd.Series(predicted, name="predicted"), normalize="index"
    )
    labels = sorted(set(table.index) | set(table.columns))
    table = table.reindex(index=labels, columns=labels, fill_value=0.0)
    size = 1.5 + 0.5 * len(labels)
    margin = 0.07 * max(len(str(label)) for label in labels)  # room for the tick labels
    figure = Figure(figsize=(size + margin + 1.2, size + margin), layout="constrained")
    axis = figure.subplots()
    values = table.to_numpy()
    image = axis.imshow(values, vmin=0, vmax=1, cmap="Blues")
    for (i, j), value in np.ndenumerate(values):
        if value >= 0.01:
            color = "white" if value > 0.5 else "black"
            axis.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize="x-small", color=color)
    axis.set_xticks(range(len(labels)), labels, rotation=90, fontsize="small")
    axis.set_yticks(range(len(labels)), labels, fontsize="small")
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title, fontsize="small")
    figure.colorbar(image, ax=axis, fraction=0.046)
    return figure
