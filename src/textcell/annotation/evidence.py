"""Marker-gene evidence: how strongly each group of cells expresses each gene, against the rest.

Everything here is a pure function of a log-normalised matrix and a group per cell. A marker
*supports* a group when it passes every threshold of :class:`Thresholds` there: expressed in enough
of the group's cells, above the other groups (log2 fold change and the difference in the fraction
of expressing cells), and not clearly higher in some other single group.

"Above the other groups" compares with the lower quartile of the other groups (their means and
fractions), not with all other cells pooled: a lineage split over several clusters (T cells in
blood often fill half of them) keeps its markers in each of its clusters, while a gene expressed
in most groups (housekeeping genes, HLA class II in every antigen-presenting cell) supports none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from scipy import sparse


@dataclass(frozen=True)
class Thresholds:
    """When a marker gene counts as expressed by a group (all must hold).

    min_fraction
        Fraction of the group's cells with a non-zero value.
    min_log2fc
        log2 fold change of the mean (on the scale of ``expm1`` of the log-normalised values)
        against the other groups' lower-quartile mean; 0.58 is a 1.5-fold increase.
    min_fraction_gap
        Group fraction minus the other groups' lower-quartile fraction.
    min_relative_mean
        Mean log-normalised value in the group relative to the highest of any other group: a
        marker twice as high (in log units) in another group is that group's marker, not this one's.
    min_relative_level
        The same on the scale of ``expm1`` of the means (counts per 10,000): a transcript ten
        times as abundant in another group is at that group's ambient level here (ambient RNA,
        as glucagon or pancreatic polypeptide in every islet cell, is commonly a few percent and
        at most about a tenth of a droplet's reads), so it is not this group's marker. The level
        is that bound, set in advance; on the validation data it changes no label up to 0.3
        (``python benchmarks/validation_annotation.py``).
    contradiction_level
        ``min_relative_level`` for negative markers: a contradiction must be real expression, at
        least this share of the level of the group that expresses the gene most (a doublet carries
        about half of each type's transcripts); below it, the gene is ambient here.
    saturated_fraction, saturated_log2fc
        When the other groups' lower-quartile fraction is at least ``saturated_fraction`` (a
        transcript in nearly every droplet, as ambient insulin in pancreatic islets), no fraction
        gap can show; the log2 fold change must then be at least ``saturated_log2fc`` instead.
    """

    min_fraction: float = 0.30
    min_log2fc: float = 0.58
    min_fraction_gap: float = 0.10
    min_relative_mean: float = 0.5
    min_relative_level: float = 0.1
    contradiction_level: float = 0.3
    saturated_fraction: float = 0.9
    saturated_log2fc: float = 1.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def group_statistics(matrix, groups: pd.Categorical, genes: pd.Index) -> dict[str, pd.DataFrame]:
    """Per group (rows) and gene (columns): ``fraction``, ``mean``, ``reference_fraction`` and
    ``reference_mean`` (lower quartile of the other groups), ``log2fc`` (against the reference)
    and ``max_other_mean``. ``matrix`` is cells × ``genes``, log-normalised, dense or sparse."""
    codes = np.asarray(groups.codes)
    n_groups = len(groups.categories)
    indicator = sparse.csr_matrix(
        (np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(n_groups, len(codes))
    )
    matrix = sparse.csr_matrix(matrix, dtype=np.float64)
    sizes = np.asarray(indicator.sum(axis=1)).ravel()[:, None]
    sums = np.asarray((indicator @ matrix).todense())
    expressing = matrix.copy()
    expressing.data = (expressing.data > 0).astype(np.float64)
    counts = np.asarray((indicator @ expressing).todense())
    mean, fraction = sums / np.maximum(sizes, 1), counts / np.maximum(sizes, 1)
    reference_mean, reference_fraction = _quartile_of_others(mean), _quartile_of_others(fraction)
    log2fc = np.log2(np.expm1(mean) + 1e-9) - np.log2(np.expm1(reference_mean) + 1e-9)
    frame = lambda values: pd.DataFrame(values, index=groups.categories, columns=genes)  # noqa: E731
    return {
        "fraction": frame(fraction),
        "mean": frame(mean),
        "reference_fraction": frame(reference_fraction),
        "reference_mean": frame(reference_mean),
        "log2fc": frame(log2fc),
        "max_other_mean": frame(_max_of_others(mean)),
    }


def _quartile_of_others(values: np.ndarray) -> np.ndarray:
    """For each row, the column-wise lower quartile over all other rows (zero with one row)."""
    if len(values) == 1:
        return np.zeros_like(values)
    rows = np.arange(len(values))
    return np.stack([np.quantile(values[rows != i], 0.25, axis=0) for i in rows])


def _max_of_others(values: np.ndarray) -> np.ndarray:
    """For each row, the column-wise maximum over all other rows."""
    if len(values) == 1:
        return np.zeros_like(values)
    order = np.sort(values, axis=0)
    highest, second = order[-1], order[-2]
    return np.where(values == highest, second, highest)


def contradicting(stats: dict[str, pd.DataFrame], thresholds: Thresholds) -> pd.DataFrame:
    """Boolean group × gene table: the gene, as a negative marker, contradicts a label in the group
    (:func:`supported` with ``contradiction_level`` as the relative level)."""
    return supported(stats, replace(thresholds, min_relative_level=thresholds.contradiction_level))


def supported(stats: dict[str, pd.DataFrame], thresholds: Thresholds) -> pd.DataFrame:
    """Boolean group × gene table: the gene passes every threshold in the group."""
    saturated = stats["reference_fraction"] >= thresholds.saturated_fraction
    above = (stats["fraction"] - stats["reference_fraction"] >= thresholds.min_fraction_gap) | (
        saturated & (stats["log2fc"] >= thresholds.saturated_log2fc)
    )
    return (
        (stats["fraction"] >= thresholds.min_fraction)
        & (stats["log2fc"] >= thresholds.min_log2fc)
        & above
        & (stats["mean"] >= thresholds.min_relative_mean * stats["max_other_mean"])
        & (np.expm1(stats["mean"]) >= thresholds.min_relative_level * np.expm1(stats["max_other_mean"]))
    )
