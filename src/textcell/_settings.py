"""Process-wide settings: cache location, progress bars, shipped vectors."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs


def _default_cache_dir() -> Path:
    override = os.environ.get("TEXTCELL_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("textcell", appauthor=False))


@dataclass
class Settings:
    """Mutable settings shared by every textcell call.

    ``cache_dir`` defaults to the platform's user cache folder; the environment
    variable ``TEXTCELL_CACHE_DIR`` overrides it (read when textcell is imported).
    """

    cache_dir: Path = field(default_factory=_default_cache_dir)
    progress: bool = True
    shipped_vectors: bool = True  # serve the vectors shipped with textcell (textcell.embed.bundled)


settings = Settings()
