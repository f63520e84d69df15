import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from textcell.annotation.evidence import Thresholds, group_statistics, supported


def _data():
    """Four groups of 10 cells; CD3E in groups a and b (a lineage split in two), LYZ in c only,
    B2M everywhere, GNLY in a third of group d's cells."""
    groups = pd.Categorical(np.repeat(["a", "b", "c", "d"], 10))
    genes = pd.Index(["CD3E", "LYZ", "B2M", "GNLY"])
    x = np.zeros((40, 4))
    x[:20, 0] = 2.0
    x[20:30, 1] = 3.0
    x[:, 2] = 4.0
    x[30:34, 3] = 1.0
    return sparse.csr_matrix(x), groups, genes


def test_group_statistics_values():
    x, groups, genes = _data()
    stats = group_statistics(x, groups, genes)
    assert stats["fraction"].loc["a", "CD3E"] == 1.0
    assert stats["fraction"].loc["d", "GNLY"] == pytest.approx(0.4)
    assert stats["mean"].loc["c", "LYZ"] == pytest.approx(3.0)
    # the reference is the lower quartile of the other groups, not the pooled rest
    assert stats["reference_mean"].loc["a", "CD3E"] == 0.0
    assert stats["max_other_mean"].loc["a", "CD3E"] == 2.0
    assert stats["max_other_mean"].loc["c", "LYZ"] == 0.0


def test_lineage_markers_support_each_of_its_groups_and_housekeeping_supports_none():
    x, groups, genes = _data()
    support = supported(group_statistics(x, groups, genes), Thresholds())
    assert support.loc["a", "CD3E"]
    assert support.loc["b", "CD3E"]
    assert not support.loc["c", "CD3E"]
    assert support.loc["c", "LYZ"]
    assert not support.loc["a", "LYZ"]
    assert not support["B2M"].any()
    assert support.loc["d", "GNLY"]  # 40% of cells, absent elsewhere
    assert not supported(group_statistics(x, groups, genes), Thresholds(min_fraction=0.5)).loc["d", "GNLY"]
