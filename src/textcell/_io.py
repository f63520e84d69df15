"""Atomic file writes: a crash never leaves a half-written file under its final name.

The temporary file beside the target is named ``.{name}.textcell-tmp.{host}.{pid}.{random}{suffix}``:
an interrupt (Ctrl-C, SIGTERM under the command line) removes it, and the next write of the same
target removes those left by a process that was killed outright (SIGKILL, power loss), knowing it
from the pid. A temporary file of a live process is never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

logger = logging.getLogger("textcell")

TEMP_TAG = "textcell-tmp"
FOREIGN_TEMP_AGE = 24 * 3600  # seconds: a temporary file from another host is stale after this
_live: set[str] = set()  # this process's temporary files
_live_lock = threading.Lock()


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
    from ._signals import held, raise_if_interrupted

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        with _live_lock, held():  # an interrupt comes after `tmp` is set, so the file is removed
            remove_stale_temp_files(path)
            fd, tmp = tempfile.mkstemp(
                dir=path.parent,
                prefix=f".{path.name}.{TEMP_TAG}.{_host()}.{os.getpid()}.",
                suffix=path.suffix or ".tmp",
            )
            os.close(fd)
            tmp = os.path.abspath(tmp)
            _live.add(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        yield Path(tmp)
        raise_if_interrupted()  # a Ctrl-C that Python swallowed while the block ran
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    finally:
        with _live_lock:
            _live.discard(tmp)


def remove_stale_temp_files(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of ``path`` left by processes that no longer run (on this host;
    from another host sharing the folder: older than a day). Returns what was removed."""
    path = Path(path)
    pattern = re.compile(
        rf"\.{re.escape(path.name)}\.{TEMP_TAG}\.([0-9a-f]{{8}})\.(\d+)\.[A-Za-z0-9_]+"
        rf"{re.escape(path.suffix or '.tmp')}"
    )
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(path.parent):
            match = pattern.fullmatch(entry.name)
            if match is None or os.path.abspath(entry.path) in _live:
                continue
            with contextlib.suppress(FileNotFoundError):
                written = entry.stat(follow_symlinks=False).st_mtime
                if _is_stale(match.group(1), int(match.group(2)), written):
                    size = entry.stat(follow_symlinks=False).st_size
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
                    logger.info("Removed %s (%.1f MB), left by an interrupted run.", entry.path, size / 1e6)
    return removed


def _host() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]  # noqa: S324  (a tag, not security)


def _is_stale(host: str, pid: int, written: float) -> bool:
    """Whether the process that wrote a temporary file (last modified at ``written``) is gone."""
    if host != _host():  # its pid means nothing here
        return time.time() - written > FOREIGN_TEMP_AGE
    if pid == os.getpid():  # not one of ours (checked by the caller): an earlier process's pid
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    started = _process_start(pid)
    return started is not None and started > written + 1.0  # the pid was reused since the write


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (Unix time; Linux only, else None)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )  # fmt: skip
    except (OSError, StopIteration, ValueError):
        return None
    ticks = int(stat.rpartition(")")[2].split()[19])  # field 22, starttime, in clock ticks
    return boot + ticks / os.sysconf("SC_CLK_TCK")


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
