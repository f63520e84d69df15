"""The contract of every fitted textcell model: saved to one file with its format and version,
loaded without pickle, refusing data that differ from what it was fitted on.

A subclass names its ``FORMAT`` and ``FORMAT_VERSION``, says whether it ``is_fitted``, and turns
itself into arrays and JSON metadata (:meth:`_state`) and back (:meth:`_from_state`); this class
does the file, the checks and the messages.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from importlib.metadata import version
from pathlib import Path
from typing import ClassVar, Self

import numpy as np

from .._io import read_npz, write_npz
from ..errors import InputError


class FittedModel(ABC):
    """Save/load with format and version checks, an is-fitted guard and a readable repr."""

    FORMAT: ClassVar[str]
    FORMAT_VERSION: ClassVar[int]
    KIND: ClassVar[str] = "model"  # how messages name it: "classifier", "perturbation model" ...

    @property
    @abstractmethod
    def is_fitted(self) -> bool:
        """Whether the model has been fitted (or loaded)."""

    @abstractmethod
    def _state(self) -> tuple[dict[str, np.ndarray], dict]:
        """The arrays and JSON-serialisable metadata that define the fitted model."""

    @classmethod
    @abstractmethod
    def _from_state(cls, arrays: dict[str, np.ndarray], metadata: dict) -> Self:
        """The model back from :meth:`_state`'s arrays and metadata."""

    def require_fitted(self) -> None:
        if not self.is_fitted:
            raise InputError(f"This {self.KIND} is not fitted; call fit() first (or load a saved one).")

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to one ``.npz`` file, atomically (no pickle anywhere)."""
        self.require_fitted()
        path = Path(path)
        if path.suffix != ".npz":
            raise InputError(f"Save a {self.KIND} as .npz, not {path.suffix or 'no suffix'!r}.")
        arrays, metadata = self._state()
        header = {
            "format": self.FORMAT,
            "format_version": self.FORMAT_VERSION,
            "textcell_version": version("textcell"),
        }
        return write_npz(path, arrays, {**header, **metadata})

    @classmethod
    def read(cls, path: str | os.PathLike) -> Self:
        """Load a model saved by :meth:`save`, checking that it is one of this kind and format."""
        arrays, metadata = read_npz(path, f"textcell {cls.KIND}")
        found, found_version = metadata.get("format"), metadata.get("format_version")
        if found != cls.FORMAT:
            raise InputError(f"{path} is not a textcell {cls.KIND} (its format is {found!r}).")
        if found_version != cls.FORMAT_VERSION:
            newer = isinstance(found_version, int) and found_version > cls.FORMAT_VERSION
            raise InputError(
                f"{path} is a {cls.KIND} of format version {found_version}, this textcell reads version "
                f"{cls.FORMAT_VERSION}: "
                + ("upgrade textcell." if newer else f"fit it again with textcell {version('textcell')}.")
            )
        return cls._from_state(arrays, metadata)

    def _describe(self) -> str:
        """What the repr says of a fitted model."""
        return "fitted"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe() if self.is_fitted else 'unfitted'})"
