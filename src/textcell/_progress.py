"""The one progress-bar wrapper; ``settings.progress = False`` silences it."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

from ._settings import settings

T = TypeVar("T")

logger = logging.getLogger("textcell")


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it"
) -> Iterator[T]:
    """Iterate with a progress bar unless progress bars are switched off."""
    return iter(tqdm(iterable, total=total, desc=desc, unit=unit, disable=not settings.progress, leave=False))


def progress_bar(*, total: int, desc: str = "", unit: str = "it") -> tqdm:
    """A progress bar to ``update()`` by hand (use it as a context manager)."""
    return tqdm(total=total, desc=desc, unit=unit, disable=not settings.progress, leave=False)
