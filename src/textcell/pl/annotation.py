"""Annotation figures: the evidence dot plot, and UMAPs by group (numbered) and by status."""

from __future__ import annotations

import re
from collections.abc import Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

# marker roles in the dot plot: ring colour, ring width, what the legend says
ROLES = {
    "supporting": ("#1b7837", 2.0, "supporting: a marker of the label, expressed"),
    "contradicting": ("#2166ac", 2.0, "contradicting: a marker against the label, expressed"),
    "missing": ("none", 0.0, "no ring: a marker of the label, not expressed"),
}
LEGEND = {"fontsize": "small", "title_fontsize": "small", "frameon": False}
STATUS_COLORS = {"verified": "#1b9e77", "weak": "#e6ab02", "unknown": "#b2182b"}


def group_colors(n: int) -> list:
    """``n`` distinct colours: tab10's first, then tab20's lighter ones (as scanpy orders them),
    then tab20b and tab20c (60 in all; beyond that they repeat)."""
    tab20 = matplotlib.colormaps["tab20"].colors
    palette = [*tab20[0::2], *tab20[1::2]]
    if n > len(palette):
        palette += [*matplotlib.colormaps["tab20b"].colors, *matplotlib.colormaps["tab20c"].colors]
    return [palette[i % len(palette)] for i in range(n)]


def natural_order(names) -> np.ndarray:
    """Positions that sort ``names`` numerically where they are numbers (Leiden's "0" … "10"),
    then the rest alphabetically."""
    keys = [(0, int(n), "") if str(n).isdigit() else (1, 0, str(n)) for n in names]
    return np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=int)


def group_categories(groups) -> pd.Categorical:
    """Each cell's group as strings, in the groups' own order (a categorical's) or else in
    :func:`natural_order`: the order of colours and legends in every annotation figure."""
    values = pd.Series(groups).reset_index(drop=True)
    if isinstance(values.dtype, pd.CategoricalDtype):
        names = [str(c) for c in values.cat.remove_unused_categories().cat.categories]
    else:
        unique = pd.unique(values.astype(str))
        names = [unique[i] for i in natural_order(unique)]
    return pd.Categorical(values.astype(str), categories=names)


def _row_label(group, label, status) -> str:
    return f"{group}: {label}" if str(label).startswith("unknown") else f"{group}: {label} ({status})"


def evidence_dotplot(result, *, max_markers: int = 6):
    """Rows: groups (with label and status); columns: the canonical markers of the chosen labels.

    Dot size is the fraction of the group's cells expressing the marker, colour its mean
    log-normalised expression; the ring says what the marker does for the row's label: green,
    supporting (expected and expressed); blue, contradicting (a marker the label should not have,
    expressed); none, missing (expected, not expressed). An unknown group shows its closest
    candidate's markers. ``result`` is an
    :class:`~textcell.annotation.result.AnnotationResult`. Each role is drawn with ``gid``
    ``ring-<role>`` (and its legend entry ``legend-<role>``), so the figure's SVG names them.
    """
    groups = result.groups.iloc[natural_order(result.groups["group"])].astype({"group": str})
    evidence = result.evidence.astype({"group": str, "cell_type": str})
    chosen = evidence[evidence["chosen"].astype(str) == "True"]
    closest = dict(zip(groups["group"].astype(str), groups["label"].map(checked_type), strict=True))
    unlabelled = evidence[~evidence["group"].isin(set(chosen["group"]))]  # unknown groups
    chosen = pd.concat([chosen, unlabelled[unlabelled["cell_type"] == unlabelled["group"].map(closest)]])
    markers: list[str] = []
    order = {"supporting": 0, "contradicting": 1, "missing": 2}
    for group in groups["group"]:
        rows = chosen[chosen["group"] == group].sort_values("role", key=lambda r: r.map(order), kind="stable")
        markers += [m for m in rows["marker"].head(max_markers) if m not in markers]
    lookup = chosen.drop_duplicates(["group", "marker"]).set_index(["group", "marker"])
    labels = [
        _row_label(g, lab, s)
        for g, lab, s in zip(groups["group"], groups["label"], groups["status"], strict=True)
    ]
    width = 3.2 + 0.07 * max(map(len, labels), default=0) + 0.3 * max(len(markers), 1)
    figure = Figure(figsize=(width, 2.0 + 0.32 * len(groups)), layout="constrained")
    axis = figure.subplots()
    points = pd.DataFrame(
        [
            (x, y, lookup.loc[(group, marker), "role"], lookup.loc[(group, marker), "fraction"],
             lookup.loc[(group, marker), "mean"])
            for y, group in enumerate(groups["group"])
            for x, marker in enumerate(markers)
            if (group, marker) in lookup.index
        ],
        columns=["x", "y", "role", "fraction", "mean"],
    )  # fmt: skip
    points[["fraction", "mean"]] = points[["fraction", "mean"]].astype(float)
    top = max(float(points["mean"].max()) if len(points) else 0.0, 1e-6)
    image = None
    for role, (ring, linewidth, _) in ROLES.items():
        drawn = points[points["role"] == role]
        if len(drawn):
            image = axis.scatter(
                drawn["x"], drawn["y"], s=_dot_size(drawn["fraction"]), c=drawn["mean"],
                cmap="Reds", vmin=0, vmax=top, edgecolors=ring, linewidths=linewidth, gid=f"ring-{role}",
            )  # fmt: skip
    if image is not None:
        figure.colorbar(image, ax=axis, fraction=0.03, pad=0.02, label="mean expression (log)")
    axis.set_yticks(np.arange(len(groups)), labels, fontsize="small")
    axis.set_xticks(np.arange(len(markers)), markers, rotation=90, fontsize="small")
    axis.set_xlim(-0.7, max(len(markers), 1) - 0.3)
    axis.set_ylim(len(groups) - 0.5, -0.5)
    axis.grid(color="#eeeeee", linewidth=0.6)
    axis.set_axisbelow(True)
    present = [role for role in ROLES if (points["role"] == role).any()]
    rings = [
        Line2D([], [], linestyle="none", marker="o", markersize=9, markerfacecolor="#fcbba1",
               markeredgecolor=ROLES[role][0], markeredgewidth=ROLES[role][1], label=ROLES[role][2])
        for role in present
    ]  # fmt: skip
    sizes = [
        Line2D([], [], linestyle="none", marker="o", color="#bbbbbb",
               markersize=np.sqrt(_dot_size(share)), label=f"{share:.0%}")
        for share in (0.25, 0.5, 1.0)
    ]  # fmt: skip
    if rings:
        legend = figure.legend(
            handles=rings, title="ring", loc="outside lower left", alignment="left", **LEGEND
        )
        for role, handle in zip(present, legend.legend_handles, strict=True):
            handle.set_gid(f"legend-{role}")
    figure.legend(handles=sizes, title="cells expressing", loc="outside lower right", ncols=3, **LEGEND)
    return figure


def checked_type(label: str) -> str:
    """The cell type whose markers a group's row shows: its label, or for an unknown group the
    closest candidate (``"unknown (closest: X)"``), whose contradicting markers say why."""
    match = re.fullmatch(r"unknown \(closest: (.+)\)", str(label))
    return match.group(1) if match else str(label)


def _dot_size(fraction):
    """Marker area (points²) of a dot for a share of cells expressing."""
    return 15 + 185 * np.asarray(fraction, dtype=float)


def annotation_umap(
    coordinates: np.ndarray,
    labels,
    status,
    *,
    groups=None,
    panels: Sequence[str] = ("label", "status"),
):
    """UMAP panels side by side: ``"label"`` (a colour and a number per group when ``groups`` is
    given, so two groups with one label stay apart; else a colour per label) and ``"status"``
    (verified / weak / unknown). Group numbers are drawn at each group's median position, with
    ``gid`` ``group-<name>``."""
    coordinates = np.asarray(coordinates)
    labels, status = pd.Series(labels).to_numpy(), pd.Series(status).to_numpy()
    figure = Figure(figsize=(6.2 * len(panels), 4.6), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(panels)))
    size = float(np.clip(4000 / max(len(coordinates), 1), 0.5, 12))
    for axis, panel in zip(axes, panels, strict=True):
        if panel == "status":
            keys = pd.Categorical(status, categories=[s for s in STATUS_COLORS if s in set(status)])
            names = list(keys.categories)
            colors = [STATUS_COLORS[s] for s in names]
        elif groups is not None:
            keys = group_categories(groups)
            first = pd.DataFrame({"group": keys, "label": labels, "status": status}).drop_duplicates("group")
            described = first.set_index("group").reindex(keys.categories)
            names = [_row_label(g, lab, s) for g, lab, s in described.itertuples()]
            colors = group_colors(len(names))
        else:
            keys = pd.Categorical(labels)
            names = list(keys.categories)
            colors = group_colors(len(names))
        for code, (name, color) in enumerate(zip(names, colors, strict=True)):
            mask = keys.codes == code
            axis.scatter(*coordinates[mask].T, s=size, color=color, label=name, linewidths=0, rasterized=True)
        if groups is not None:
            _number_groups(axis, coordinates, group_categories(groups))
        axis.set_title(
            "groups and their labels" if panel == "label" else "status of each label", fontsize="medium"
        )
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_xlabel("UMAP 1", fontsize="small")
        axis.set_ylabel("UMAP 2", fontsize="small")
        axis.legend(
            fontsize="small", markerscale=max(1.0, 6 / np.sqrt(size)), frameon=False,
            loc="center left", bbox_to_anchor=(1.0, 0.5), handletextpad=0.2,
        )  # fmt: skip
    return figure


def _number_groups(axis, coordinates: np.ndarray, groups: pd.Categorical) -> None:
    for code, group in enumerate(groups.categories):
        inside = coordinates[groups.codes == code]
        if len(inside):
            x, y = np.median(inside, axis=0)
            axis.text(
                x, y, str(group), ha="center", va="center", fontsize="medium", fontweight="bold",
                bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.6},
                gid=f"group-{group}",
            )  # fmt: skip
