"""Group-level (donor-level) splits: the cells of one donor are never on both sides of a split.

A :class:`GroupSplit` checks itself when it is made, so a leaking split cannot exist; the
training side can then be subsampled (:func:`subsample`) without ever touching the test side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class GroupSplit:
    """Training and test cells (indices) of one fold, and the groups held out."""

    name: str
    train: np.ndarray
    test: np.ndarray
    groups: np.ndarray

    def __post_init__(self):
        check_disjoint(self.groups, self.train, self.test)


def check_disjoint(groups, train, test) -> None:
    """Raise :class:`InputError` when a cell or a group is on both sides of a split."""
    groups = np.asarray(groups)
    train, test = np.asarray(train), np.asarray(test)
    if len(train) == 0 or len(test) == 0:
        raise InputError("A split needs cells on both sides.")
    if np.intersect1d(train, test).size:
        raise InputError("A cell is on both sides of the split.")
    shared = np.intersect1d(groups[train], groups[test])
    if shared.size:
        raise InputError(
            f"Group(s) {shared.tolist()[:5]} have cells on both sides of the split; hold out whole "
            "groups (textcell.bench.splits.leave_one_group_out)."
        )


def leave_one_group_out(groups) -> list[GroupSplit]:
    """One split per group: that group's cells are the test set, every other group's the training set."""
    groups = np.asarray(groups).astype(str)
    names = np.unique(groups)
    if len(names) < 2:
        raise InputError("Group-held-out splits need at least two groups (donors).")
    index = np.arange(len(groups))
    return [
        GroupSplit(name=str(name), train=index[groups != name], test=index[groups == name], groups=groups)
        for name in names
    ]


def subsample(train: np.ndarray, labels, fraction: float, *, seed: int = 0) -> np.ndarray:
    """A stratified random ``fraction`` of the training cells: each label keeps its share (rounded),
    and at least one cell. ``fraction`` 1 returns every training cell."""
    if not 0 < fraction <= 1:
        raise InputError(f"fraction must be in (0, 1], got {fraction}.")
    train = np.asarray(train)
    if fraction == 1:
        return train
    labels = np.asarray(labels)[train]
    rng = np.random.default_rng(seed)
    kept = []
    for label in np.unique(labels):
        members = train[labels == label]
        size = max(1, round(fraction * len(members)))
        kept.append(rng.choice(members, size=size, replace=False))
    return np.sort(np.concatenate(kept))
