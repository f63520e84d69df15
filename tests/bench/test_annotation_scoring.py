"""The annotation benchmark's scoring: strict and lenient rightness, labels outside the reference,
quality calibration and the text candidates' hit rate against chance."""

import math

import pandas as pd

from textcell.annotation.result import AnnotationResult
from textcell.bench.annotation import calibration, score, text_hits


def _cells(rows):
    frame = pd.DataFrame(rows, columns=["group", "truth", "label", "status"])
    return frame["label"], frame["status"], frame["truth"], frame["group"]


def test_strict_lenient_and_outside():
    rows = (
        [("0", "CD4+/CD25 T Reg", "Regulatory T cells", "verified")] * 4  # the sorted subtype: right
        + [("1", "CD4+/CD25 T Reg", "CD4+ T cells", "verified")] * 4  # its parent: partially right
        + [("2", "CD14+ Monocyte", "B cells", "verified")] * 2  # wrong
        + [("3", "CD14+ Monocyte", "Platelets", "verified")] * 2  # no such class in the data
        + [("4", "CD19+ B", "unknown (closest: B cells)", "unknown")] * 2  # never right
    )
    result = score(*_cells(rows))
    assert math.isclose(result["accuracy_strict"], 4 / 12)
    assert math.isclose(result["accuracy"], 8 / 12)
    assert math.isclose(result["cells_outside"], 2 / 14)
    assert [w["group"] for w in result["wrong_verified"]] == ["2"]
    assert [o["label"] for o in result["outside"]] == ["Platelets"]
    assert result["named"]["CD4+/CD25 T Reg"] == ["Regulatory T cells"]


def test_calibration_bins_groups_by_quality():
    table = [
        {
            "quality": 95.0,
            "right": True,
            "right_strict": True,
            "outside": False,
            "n_cells": 10,
            "cells_right": 10,
        },
        {
            "quality": 90.0,
            "right": False,
            "right_strict": False,
            "outside": False,
            "n_cells": 5,
            "cells_right": 0,
        },
        {
            "quality": 10.0,
            "right": False,
            "right_strict": False,
            "outside": False,
            "n_cells": 5,
            "cells_right": 1,
        },
        {
            "quality": 99.0,
            "right": False,
            "right_strict": False,
            "outside": True,
            "n_cells": 3,
            "cells_right": 0,
        },
    ]
    bins = {b["bin"]: b for b in calibration({"d": {"table": table}})}
    assert bins["80–100"]["n_groups"] == 2  # the outside group is left out
    assert math.isclose(bins["80–100"]["right"], 0.5)
    assert math.isclose(bins["80–100"]["cells_right"], 10 / 15)
    assert bins["0–20"]["n_groups"] == 1


def test_text_hits_beside_the_chance_of_random_vectors():
    names = ["B cells", "T cells", "NK cells", "Platelets", "Monocytes", "Mast cells"]
    scores = pd.DataFrame(
        [("0", n, "text", float(s)) for n, s in zip(names, [6, 5, 4, 3, 2, 1], strict=True)]
        + [("1", n, "text", float(s)) for n, s in zip(names, [6, 5, 4, 3, 2, 1], strict=True)],
        columns=["group", "cell_type", "source", "score"],
    )
    result = AnnotationResult(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), text_scores=scores)
    truth = pd.Series(["B cells"] * 3 + ["CD14+ Monocyte"] * 3)
    groups = pd.Series(["0"] * 3 + ["1"] * 3)
    hits = text_hits(result, truth, groups)
    assert hits["hit_rate"] == 0.5  # B cells first; Monocytes fifth
    assert math.isclose(hits["random_expected"], 1 - math.comb(5, 3) / math.comb(6, 3))
