"""Content-addressed vector cache.

Key = sha256(embedder fingerprint, text); one SQLite file per fingerprint under
``settings.cache_dir / "vectors"``. Every batch is one transaction, so a killed process keeps
each finished batch and never leaves half an entry; WAL mode lets two processes write at once.
Each entry carries a CRC32 of its bytes: an entry that fails it is recomputed, and a file that
is not a database any more is moved aside and started afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._settings import settings
from ..errors import CacheError

logger = logging.getLogger("textcell")
SUFFIX = ".sqlite"


def text_key(fingerprint: str, text: str) -> str:
    return hashlib.sha256(f"{fingerprint}\0{text}".encode()).hexdigest()


def cache_folder(root: str | os.PathLike | None = None) -> Path:
    return Path(root) if root is not None else settings.cache_dir / "vectors"


class VectorCache:
    """Vectors of one embedder, by text."""

    def __init__(self, fingerprint: str, *, model_id: str = "", root: str | os.PathLike | None = None):
        self.fingerprint = fingerprint
        self.dim: int | None = None
        self.path = cache_folder(root) / f"{fingerprint}{SUFFIX}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = self._open(model_id)
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            logger.warning(
                "Vector cache %s is unreadable (%s); moved it to %s and starting afresh.",
                self.path,
                exc,
                aside.name,
            )
            for suffix in ("", "-wal", "-shm"):
                src = Path(f"{self.path}{suffix}")
                if src.exists():
                    os.replace(src, f"{aside}{suffix}")
            self._con = self._open(model_id)

    @staticmethod
    def exists(fingerprint: str, root: str | os.PathLike | None = None) -> bool:
        return (cache_folder(root) / f"{fingerprint}{SUFFIX}").is_file()

    def _open(self, model_id: str) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute(
                "CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB NOT NULL, crc INTEGER)"
            )
            con.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
            con.execute(
                "INSERT OR IGNORE INTO meta VALUES ('model_id', ?), ('created', ?)",
                (model_id, time.strftime("%Y-%m-%dT%H:%M:%S")),
            )
            stored = con.execute("SELECT value FROM meta WHERE name = 'dim'").fetchone()
        except sqlite3.DatabaseError:
            con.close()
            raise
        self.dim = int(stored[0]) if stored else None
        return con

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors among ``keys``; damaged entries count as missing."""
        found: dict[str, np.ndarray] = {}
        if self.dim is None:
            return found
        width = self.dim * 4
        for start in range(0, len(keys), 30_000):
            try:
                rows = self._con.execute(
                    "SELECT key, vec, crc FROM vectors WHERE key IN (SELECT value FROM json_each(?))",
                    (json.dumps(list(keys[start : start + 30_000])),),
                ).fetchall()
            except sqlite3.DatabaseError as exc:
                raise CacheError(
                    f"Vector cache {self.path} cannot be read ({exc}); run `textcell cache clear`."
                ) from exc
            for key, blob, crc in rows:
                if len(blob) == width and zlib.crc32(blob) == crc:
                    found[key] = np.frombuffer(blob, dtype="<f4")
                else:
                    logger.warning("A damaged entry in %s is recomputed.", self.path.name)
        return found

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Store one batch in one transaction."""
        vectors = np.ascontiguousarray(vectors, dtype="<f4")
        if vectors.ndim != 2 or len(vectors) != len(keys) or self.dim not in (None, vectors.shape[1]):
            raise CacheError(
                f"Expected {len(keys)} vectors of dimension {self.dim or 'any'} for {self.path.name}, "
                f"got shape {vectors.shape}; the embedder changed without changing its fingerprint."
            )
        rows = [(k, v.tobytes(), zlib.crc32(v.tobytes())) for k, v in zip(keys, vectors, strict=True)]
        try:
            self._con.execute("BEGIN IMMEDIATE")
            if self.dim is None:
                self._con.execute("INSERT OR IGNORE INTO meta VALUES ('dim', ?)", (str(vectors.shape[1]),))
                self.dim = vectors.shape[1]
            self._con.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
            self._con.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if self._con.in_transaction:
                self._con.execute("ROLLBACK")
            raise CacheError(f"Could not write to the vector cache {self.path}: {exc}") from exc

    def __len__(self) -> int:
        return self._con.execute("SELECT count(*) FROM vectors").fetchone()[0]

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> VectorCache:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@dataclass(frozen=True)
class CacheEntry:
    fingerprint: str
    model_id: str
    dim: int
    vectors: int
    bytes: int
    path: Path


def cache_info(root: str | os.PathLike | None = None) -> list[CacheEntry]:
    """One entry per embedder fingerprint in the cache folder."""
    entries = []
    for path in sorted(cache_folder(root).glob(f"*{SUFFIX}")):
        size = sum(p.stat().st_size for p in path.parent.glob(f"{path.name}*") if ".corrupt-" not in p.name)
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            meta = dict(con.execute("SELECT name, value FROM meta"))
            count = con.execute("SELECT count(*) FROM vectors").fetchone()[0]
            con.close()
        except sqlite3.DatabaseError:
            meta, count = {"model_id": "(unreadable)", "dim": 0}, 0
        entries.append(
            CacheEntry(path.stem, meta.get("model_id", ""), int(meta.get("dim", 0)), count, size, path)
        )
    return entries


def clear_cache(root: str | os.PathLike | None = None, *, fingerprint: str | None = None) -> int:
    """Delete the cached vectors (of one fingerprint, or all); returns the number of files removed."""
    folder = cache_folder(root)
    pattern = f"{fingerprint}{SUFFIX}*" if fingerprint else f"*{SUFFIX}*"
    removed = 0
    for path in folder.glob(pattern):
        path.unlink()
        removed += 1
    return removed
