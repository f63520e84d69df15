"""RefSeq gene summaries from NCBI E-utilities ``esummary`` (``db=gene``), cached on disk.

The cache is a SQLite file that gains one committed transaction per batch, so an
interrupted download keeps every finished batch and a rerun asks NCBI only for the rest.
"""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from .._http import RetryableError, retry_after, snippet, transport_failure, with_retries
from .._io import atomic_write
from .._progress import logger, progress
from .._settings import settings
from ..errors import AuthError, BackendError, CacheError, InputError, RateLimitError, ResponseError

__all__ = ["EUTILS_URL", "GeneSummary", "fetch_summaries", "write_summaries_jsonl"]

EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
MAX_BATCH = 200
# NCBI allows 3 requests/s without an API key and 10/s with one; keep a little margin.
_INTERVAL_NO_KEY = 0.35
_INTERVAL_KEY = 0.11


@dataclass(frozen=True)
class GeneSummary:
    """One gene's NCBI record: Entrez ID, official symbol, full name and RefSeq summary.

    ``summary`` is ``""`` when NCBI has none for the gene.
    """

    entrez: str
    symbol: str
    name: str
    summary: str


def fetch_summaries(
    entrez_ids: Iterable[str | int],
    *,
    api_key: str | None = None,
    email: str | None = None,
    cache_path: str | os.PathLike | None = None,
    base_url: str = EUTILS_URL,
    batch_size: int = MAX_BATCH,
    max_retries: int = 6,
    timeout: float = 30.0,
    backoff: float = 1.0,
    min_interval: float | None = None,
    client: httpx.Client | None = None,
) -> dict[str, GeneSummary]:
    """Fetch gene summaries from NCBI, reusing and extending an on-disk cache.

    Parameters
    ----------
    entrez_ids
        NCBI Gene (Entrez) IDs, as positive integers or their strings. Duplicates are dropped.
    api_key
        NCBI API key; defaults to the environment variable ``NCBI_API_KEY``. With a key NCBI
        allows 10 requests per second instead of 3. It is sent to NCBI and nowhere else.
    email
        Contact address NCBI may use if the requests cause problems.
    cache_path
        SQLite cache; defaults to ``settings.cache_dir / "ncbi" / "esummary_gene.sqlite"``.
    base_url
        E-utilities base URL, ending in ``/``.
    batch_size
        IDs per request, 1 to 200.
    max_retries
        Retries per batch after HTTP 429 or 5xx, dropped connections and malformed answers.
    timeout
        Seconds to wait for each answer.
    backoff
        Delay before the first retry in seconds; it doubles with every retry and yields to
        the server's ``Retry-After`` header, never exceeding 60 s.
    min_interval
        Minimum seconds between requests; ``None`` derives it from NCBI's limits.
    client
        An :class:`httpx.Client` to send the requests through; by default one is made.

    Returns
    -------
    Summaries by Entrez ID (as canonical decimal strings), in input order. IDs that NCBI
    does not know are absent; they are logged and asked again on the next call.
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise InputError(f"batch_size must be between 1 and {MAX_BATCH}, got {batch_size}.")
    ids = _check_ids(entrez_ids)
    api_key = api_key or os.environ.get("NCBI_API_KEY") or None
    path = Path(cache_path or settings.cache_dir / "ncbi" / "esummary_gene.sqlite")
    with _Cache(path) as cache:
        found = cache.get(ids)
        todo = [i for i in ids if i not in found]
        if todo:
            logger.info("Fetching %d gene summaries from NCBI (%d cached).", len(todo), len(found))
            params = {"db": "gene", "retmode": "json", "tool": "textcell"}
            params |= {k: v for k, v in (("email", email), ("api_key", api_key)) if v}
            interval = min_interval
            if interval is None:
                interval = _INTERVAL_KEY if api_key else _INTERVAL_NO_KEY
            advice = (
                "Try again later"
                + ("" if api_key else ", or set NCBI_API_KEY to be allowed more requests")
                + f"; summaries fetched so far are kept in {path}, so rerunning resumes there."
            )
            session = _Session(
                client=client or httpx.Client(),
                url=f"{base_url}esummary.fcgi",
                params=params,
                timeout=timeout,
                max_retries=max_retries,
                backoff=backoff,
                interval=interval,
                advice=advice,
            )
            batches = [todo[k : k + batch_size] for k in range(0, len(todo), batch_size)]
            missing = 0
            try:
                for batch in progress(batches, desc="NCBI gene summaries", unit="batch"):
                    got = _parse_batch(session.post(batch), batch)
                    cache.put(got.values())
                    found |= got
                    missing += len(batch) - len(got)
            finally:
                if client is None:
                    session.client.close()
            if missing:
                logger.warning("NCBI has no gene summary for %d of the requested IDs.", missing)
    return {i: found[i] for i in ids if i in found}


def write_summaries_jsonl(
    summaries: Mapping[str, GeneSummary] | Iterable[GeneSummary], path: str | os.PathLike
) -> Path:
    """Write summaries as JSON lines ``{"entrez", "symbol", "summary"}``, sorted by Entrez ID.

    Genes without a summary are left out. A path ending in ``.gz`` is gzip-compressed,
    reproducibly (no timestamp). The file appears only once it is complete.

    Parameters
    ----------
    summaries
        Summaries, e.g. as returned by :func:`fetch_summaries`.
    path
        Output file.

    Returns
    -------
    The path written.
    """
    path = Path(path)
    items = summaries.values() if isinstance(summaries, Mapping) else summaries
    rows = sorted((s for s in items if s.summary), key=lambda s: int(s.entrez))
    data = "".join(
        json.dumps({"entrez": s.entrez, "symbol": s.symbol, "summary": s.summary}) + "\n" for s in rows
    ).encode()
    with atomic_write(path) as handle:
        if path.suffix == ".gz":
            with gzip.GzipFile(filename=path.name, mode="wb", fileobj=handle, mtime=0) as gz:
                gz.write(data)
        else:
            handle.write(data)
    return path


def _check_ids(entrez_ids: Iterable[str | int]) -> list[str]:
    if isinstance(entrez_ids, str | int):
        entrez_ids = [entrez_ids]
    ids, bad = [], []
    for raw in entrez_ids:
        text = str(raw).strip()
        if text.isascii() and text.isdigit() and int(text) > 0:
            ids.append(str(int(text)))
        else:
            bad.append(raw)
    if bad:
        examples = ", ".join(repr(b)[:40] for b in bad[:5])
        raise InputError(
            f"{len(bad)} Entrez IDs are not positive integers (e.g. {examples}). "
            "Pass NCBI Gene IDs such as 7157 or '7157'; map symbols or Ensembl IDs first."
        )
    return list(dict.fromkeys(ids))


@dataclass
class _Session:
    """POSTs esummary requests with rate limiting and retries.

    POST keeps the parameters, and with them the API key, out of the URL that httpx logs.
    """

    client: httpx.Client
    url: str
    params: dict[str, str]
    timeout: float
    max_retries: int
    backoff: float
    interval: float
    advice: str
    _next: float = 0.0

    def post(self, batch: list[str]) -> dict:
        data = self.params | {"id": ",".join(batch)}
        return with_retries(
            lambda: self._attempt(data),
            max_retries=self.max_retries,
            backoff=self.backoff,
            advice=self.advice,
        )

    def _attempt(self, data: dict[str, str]) -> dict:
        wait = self._next - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._next = time.monotonic() + self.interval
        try:
            response = self.client.post(self.url, data=data, timeout=self.timeout)
        except httpx.TransportError as exc:
            raise transport_failure("NCBI", exc) from exc
        status, text = response.status_code, response.text
        if status == 429:
            message = f"NCBI answered 'too many requests' (HTTP 429; {self._snippet(text)})"
            raise RetryableError(message, RateLimitError, retry_after(response))
        if status >= 500:
            message = f"NCBI answered HTTP {status} ({self._snippet(text)})"
            raise RetryableError(message, BackendError, retry_after(response))
        if status >= 400:
            if "api key" in text.lower() and "api_key" in self.params:
                raise AuthError(
                    f"NCBI rejected the API key (HTTP {status}; {self._snippet(text)}). "
                    "Check NCBI_API_KEY or leave it unset."
                )
            raise BackendError(f"NCBI refused the request with HTTP {status} ({self._snippet(text)}).")
        try:
            payload = json.loads(text)
        except ValueError as exc:
            html = text.lstrip().startswith("<")
            what = "HTML instead of JSON" if html else "truncated or invalid JSON"
            message = f"NCBI answered with {what} ({self._snippet(text)})"
            raise RetryableError(message, ResponseError) from exc
        error = payload.get("error") if isinstance(payload, dict) else None
        if error is not None:
            message = f"NCBI answered with an error instead of results: {self._redact(str(error))!r}"
            limited = "rate limit" in str(error).lower()
            raise RetryableError(message, RateLimitError if limited else ResponseError)
        if not isinstance(payload, dict) or not isinstance(payload.get("result"), dict):
            message = f"NCBI answered without results ({self._snippet(text)})"
            raise RetryableError(message, ResponseError)
        return payload

    def _redact(self, text: str) -> str:
        key = self.params.get("api_key")
        return text.replace(key, "<NCBI_API_KEY>") if key else text

    def _snippet(self, text: str) -> str:
        return snippet(text, redact=self.params.get("api_key")).replace("<redacted>", "<NCBI_API_KEY>")


def _parse_batch(payload: dict, batch: list[str]) -> dict[str, GeneSummary]:
    result = payload["result"]
    found = {}
    for uid in batch:
        record = result.get(uid)
        if isinstance(record, dict) and "error" not in record:
            found[uid] = GeneSummary(
                entrez=uid,
                symbol=str(record.get("name") or ""),
                name=str(record.get("description") or ""),
                summary=str(record.get("summary") or "").strip(),
            )
    return found


class _Cache:
    """SQLite table entrez → symbol, name, summary, fetched_at; safe for concurrent processes."""

    def __init__(self, path: Path):
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.con = sqlite3.connect(path, timeout=60.0)
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc) from exc
        try:
            self.con.execute("PRAGMA journal_mode=WAL")
            self.con.execute(
                "CREATE TABLE IF NOT EXISTS gene_summary (entrez TEXT PRIMARY KEY,"
                " symbol TEXT NOT NULL, name TEXT NOT NULL, summary TEXT NOT NULL,"
                " fetched_at TEXT NOT NULL)"
            )
        except sqlite3.Error as exc:
            self.con.close()
            raise self._error(exc) from exc

    def __enter__(self) -> _Cache:
        return self

    def __exit__(self, *exc_info) -> None:
        self.con.close()

    def get(self, ids: list[str]) -> dict[str, GeneSummary]:
        query = (
            "SELECT entrez, symbol, name, summary FROM gene_summary"
            " WHERE entrez IN (SELECT value FROM json_each(?))"
        )
        try:
            rows = self.con.execute(query, (json.dumps(ids),)).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        return {row[0]: GeneSummary(*row) for row in rows}

    def put(self, summaries: Iterable[GeneSummary]) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        rows = [(s.entrez, s.symbol, s.name, s.summary, now) for s in summaries]
        try:
            with self.con:
                self.con.executemany("INSERT OR REPLACE INTO gene_summary VALUES (?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def _error(self, exc: Exception) -> CacheError:
        return CacheError(
            f"The NCBI summary cache {self.path} cannot be used ({exc}). If it is corrupt,"
            " delete it; summaries are then downloaded again."
        )
