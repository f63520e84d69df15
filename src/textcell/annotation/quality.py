"""A quality score per label, 0–100, from the evidence behind it (as CASSIA reports one).

The score is fixed in advance, not fitted to any benchmark: the annotation benchmark reports how
well it is calibrated (score bins against the fraction of correct labels, every dataset).

    quality = 100 × status weight × (0.40 support + 0.25 specificity + 0.15 clean + 0.20 depth)

- *support*: the share of the label's measured canonical markers that the group expresses;
- *specificity*: the mean, over the supporting markers, of their log2 fold change against the
  other groups' lower quartile divided by 3 (an 8-fold increase counts fully), capped at 1;
- *clean*: 1 minus the share of the label's negative markers that at least ``min_fraction`` of
  the group's cells express (contradictions that did not reach support still cost), and 0.5 less
  when other types were verified as well and the label won on evidence (``alternatives``);
- *depth*: the share of the verification chain (root → label) that is verified: 1 for a verified
  label, less for a weak one whose ancestors fell short;
- *status weight*: 1 for ``verified``, 0.6 for ``weak``, 0.2 for ``unknown`` (whose score is that
  of its closest candidate).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STATUS_WEIGHT = {"verified": 1.0, "weak": 0.6, "unknown": 0.2}
WEIGHTS = {"support": 0.40, "specificity": 0.25, "clean": 0.15, "depth": 0.20}
FULL_LOG2FC = 3.0


def quality(decision, stats: dict[str, pd.DataFrame], *, min_fraction: float) -> float:
    """The 0–100 quality of a :class:`~textcell.annotation.verify.Decision`."""
    check = decision.evidence
    if check is None and decision.status == "unknown":
        closest = decision.label.removeprefix("unknown (closest: ").removesuffix(")")
        check = decision.checks.get(closest)
    if check is None:
        return 0.0
    group = decision.group
    specificity = (
        float(
            np.mean(
                [min(max(stats["log2fc"].at[group, g], 0.0) / FULL_LOG2FC, 1.0) for g in check.supporting]
            )
        )
        if check.supporting
        else 0.0
    )
    negatives = check.negative
    expressed = [g for g in negatives if stats["fraction"].at[group, g] >= min_fraction]
    clean = 1.0 - (len(expressed) / len(negatives) if negatives else 0.0)
    if decision.contested:
        clean *= 0.5
    chain = decision.chain or [check.cell_type]
    depth = sum(decision.checks[n].status == "verified" for n in chain if n in decision.checks) / len(chain)
    parts = {"support": check.share, "specificity": specificity, "clean": clean, "depth": depth}
    return round(100.0 * STATUS_WEIGHT[decision.status] * sum(WEIGHTS[k] * v for k, v in parts.items()), 1)
