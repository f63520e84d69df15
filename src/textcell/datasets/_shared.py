"""Where the third-party data used by tests and benchmarks lives (never inside the package)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError

ENV_VAR = "TEXTCELL_SHARED_DATA"


def shared_data_dir() -> Path | None:
    """The shared data folder, or ``None`` when it is absent.

    ``$TEXTCELL_SHARED_DATA`` if set; otherwise ``../shared/data`` beside the repository
    (for a source checkout) or beside the current directory.
    """
    if os.environ.get(ENV_VAR):
        candidates = [Path(os.environ[ENV_VAR])]
    else:
        repo = Path(__file__).resolve().parents[3]
        candidates = [repo.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    return next((c for c in candidates if c.is_dir()), None)


def shared_file(relative: str) -> Path:
    """A file inside the shared data folder; a clear error when it is missing."""
    root = shared_data_dir()
    path = root / relative if root else None
    if path is None or not path.exists():
        raise InputError(
            f"Shared data file {relative!r} not found. Set ${ENV_VAR} to the folder that holds "
            "genes/, cells/ and markers/ (../shared/data beside the repository)."
        )
    return path
