"""The one progress-bar wrapper; ``settings.progress = False`` silences it."""

from __future__ import annotations

import contextlib
import logging
import time
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


@contextlib.contextmanager
def timed(step: str) -> Iterator[None]:
    """Log how long ``step`` took (INFO: shown by the command line's ``-v``), so a user can see
    where the time of a long command goes."""
    start = time.perf_counter()
    yield
    logger.info("%s took %.1f s", step, time.perf_counter() - start)
