"""Choose the annotation's evidence thresholds on the validation data only.

    python benchmarks/validation_annotation.py

Kang et al.'s IFN-β PBMCs (``kang2018_ctrl_vs_ifnb``, control and stimulated cells together, not a
reported dataset), Leiden clusters of scanpy's standard pipeline, PanglaoDB's immune markers, as in
``textcell bench annotate``. For each value of ``Thresholds.min_relative_level`` (the linear floor
against ambient transcripts) it prints the groups by status, the accuracy (strict, lenient) and the
wrong verified labels; the default is the strictest level whose labels equal those without the floor.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd

from textcell.annotation.evidence import Thresholds
from textcell.bench.annotation import TISSUE, _load, score
from textcell.tl import annotate

LEVELS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)


def main() -> None:
    dataset, adata = _load("validation")
    rows, labels = [], {}
    for level in LEVELS:
        key = f"level_{level}"
        annotate(
            adata, groupby="leiden", markers="panglaodb", tissue=TISSUE, text=False, key_added=key,
            thresholds=Thresholds(min_relative_level=level),
        )  # fmt: skip
        result = score(
            adata.obs[key], adata.obs[f"{key}_status"], adata.obs[dataset.label], adata.obs["leiden"]
        )
        labels[level] = list(
            zip(adata.obs[key].astype(str), adata.obs[f"{key}_status"].astype(str), strict=True)
        )
        rows.append(
            {
                "min_relative_level": level,
                "verified / weak / unknown": " / ".join(
                    str(result["groups"][s]) for s in ("verified", "weak", "unknown")
                ),
                "strict": round(result["accuracy_strict"], 3),
                "lenient": round(result["accuracy"], 3),
                "wrong verified": len(result["wrong_verified"]),
                "labels as without the floor": labels[level] == labels[LEVELS[0]],
            }
        )
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
