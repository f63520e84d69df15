"""Atomic file writes: a crash never leaves a half-written file under its final name."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def check_writable(path: str | os.PathLike, *, folder: bool = False) -> Path:
    """``path`` if a file (or, with ``folder``, files inside a folder) can be written there;
    otherwise an :class:`InputError` that says why, before any work is done."""
    from .errors import InputError

    path = Path(path)
    if folder:
        if path.exists() and not path.is_dir():
            raise InputError(f"{path} is a file; give a folder to write into.")
        target = path
    else:
        if path.is_dir():
            raise InputError(f"{path} is a folder; give a file name, e.g. {path / 'out'}{path.suffix or ''}.")
        target = path.parent
    existing = next(p for p in (target, *target.parents) if p.exists())
    if not existing.is_dir():
        raise InputError(f"Cannot write {path}: {existing} is a file, not a folder.")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".textcell-write-check.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(
            f"Cannot write {path}: {exc.strerror or exc} in {existing}; choose another location."
        ) from None
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path``, moved into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix or ".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; move it into place only if the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, mode) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def write_h5ad(adata, path: str | os.PathLike) -> Path:
    """Write an AnnData atomically. Nullable string arrays (``pd.StringDtype``, as current pandas
    and anndata read text columns and indices) are written as plain strings: anndata refuses them
    by default and older anndata versions cannot read them back. ``adata`` itself is not changed."""
    import pandas as pd

    def plain(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy(deep=False)
        if isinstance(frame.index.dtype, pd.StringDtype):
            frame.index = frame.index.astype(object)
        for column in frame.columns:
            if isinstance(frame[column].dtype, pd.StringDtype):
                frame[column] = frame[column].astype(object)
        return frame

    out = adata.copy() if adata.isbacked else adata.__class__(
        X=adata.X, obs=plain(adata.obs), var=plain(adata.var), uns=adata.uns, obsm=adata.obsm,
        varm=adata.varm, layers=adata.layers, obsp=adata.obsp, varp=adata.varp, raw=adata.raw,
    )  # fmt: skip
    path = Path(path)
    with atomic_path(path) as tmp:
        out.write_h5ad(tmp)
    return path


def write_npz(path: str | os.PathLike, arrays: dict, metadata: dict) -> Path:
    """A saved model: ``arrays`` and JSON ``metadata`` in one compressed ``.npz``, written atomically
    (no pickle anywhere: :func:`read_npz` refuses object arrays)."""
    import json

    import numpy as np

    path = Path(path)
    with atomic_write(path) as handle:
        np.savez_compressed(handle, **arrays, metadata=np.array(json.dumps(metadata, default=str)))
    return path


def read_npz(path: str | os.PathLike, what: str) -> tuple[dict, dict]:
    """The arrays and metadata of a file written by :func:`write_npz`; ``what`` names the kind of
    file in the error when ``path`` is missing or not one."""
    import json

    import numpy as np

    from .errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist.")
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {k: saved[k] for k in saved.files}
        return arrays, json.loads(str(arrays.pop("metadata")))
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path} is not a saved {what}: {exc}") from exc


def read_h5ad(path: str | os.PathLike, *, backed: bool = False):
    """An h5ad file as AnnData (``backed``: read-only, on disk), or an :class:`InputError` saying
    what is wrong with the file; never a traceback from deep inside h5py."""
    import anndata as ad

    from .errors import InputError

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist.")
    if not path.is_file():
        raise InputError(f"{path} is not a file; give an .h5ad file.")
    try:
        return ad.read_h5ad(path, backed="r" if backed else None)
    except MemoryError:
        raise InputError(
            f"{path} does not fit in memory; read it backed (CLI: --backed, where the command has it)."
        ) from None
    except Exception as exc:  # whatever h5py/anndata raise for a damaged or foreign file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            f"Could not read {path} as an h5ad file ({reason}); is it a complete AnnData file?"
        ) from exc
