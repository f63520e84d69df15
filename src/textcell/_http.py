"""Retrying HTTP calls shared by every client (NCBI E-utilities, embeddings APIs).

An attempt either returns, raises :class:`RetryableError` (worth another try: 429, 5xx, a dropped
connection, a malformed answer) or raises a final :class:`~textcell.errors.BackendError`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

from .errors import AuthError, BackendError, RateLimitError, ResponseError

T = TypeVar("T")
MAX_DELAY = 60.0

logger = logging.getLogger("textcell")


class RetryableError(Exception):
    """One attempt failed in a way worth retrying; the message says what came back."""

    def __init__(self, message: str, error: type[BackendError], retry_after: float | None = None):
        super().__init__(message)
        self.error = error
        self.retry_after = retry_after


def retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds, if the server sent one."""
    try:
        return max(float(response.headers["Retry-After"]), 0.0)
    except (KeyError, ValueError):
        return None


def with_retries(attempt: Callable[[], T], *, max_retries: int, backoff: float, advice: str = "") -> T:
    """Call ``attempt`` until it succeeds, waiting ``backoff·2^k`` (or ``Retry-After``) between tries.

    After the last retry the final failure is raised as its error class, with ``advice``.
    """
    last: RetryableError | None = None
    for tries in range(max_retries + 1):
        try:
            return attempt()
        except RetryableError as failure:
            last = failure
        if tries < max_retries:
            delay = min(last.retry_after if last.retry_after is not None else backoff * 2**tries, MAX_DELAY)
            logger.info("%s; retrying in %.2g s.", last, delay)
            time.sleep(delay)
    raise last.error(f"{last}, on all {max_retries + 1} attempts. {advice}".strip())


def transport_failure(service: str, exc: httpx.TransportError) -> RetryableError:
    return RetryableError(f"The connection to {service} failed ({type(exc).__name__}: {exc})", BackendError)


def snippet(text: str, *, redact: str | None = None, limit: int = 80) -> str:
    """A short, single-line excerpt of a response body with a secret blanked out."""
    text = " ".join(text.split())
    if redact:
        text = text.replace(redact, "<redacted>")
    return f"first {limit} chars: {text[:limit]!r}" if text else "empty body"


def json_answer(response: httpx.Response, *, redact: str | None = None) -> object:
    """The JSON body of a successful answer. 429 and 5xx become :class:`RetryableError`, as does a
    body that is not JSON; 401/403 raise :class:`AuthError`, other 4xx :class:`ResponseError`."""
    status, text = response.status_code, response.text
    excerpt = snippet(text, redact=redact)
    if status == 429:
        raise RetryableError(
            f"The server answered 'too many requests' (HTTP 429; {excerpt})",
            RateLimitError,
            retry_after(response),
        )
    if status >= 500:
        raise RetryableError(
            f"The server answered HTTP {status} ({excerpt})", BackendError, retry_after(response)
        )
    if status in (401, 403):
        raise AuthError(
            f"The server rejected the credentials (HTTP {status}; {excerpt}). Set the API key "
            "(api_key= or the environment variable) and check its permissions."
        )
    if status >= 400:
        raise ResponseError(f"The server refused the request (HTTP {status}; {excerpt}).")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise RetryableError(
            f"The server answered with something that is not JSON ({excerpt})", ResponseError
        ) from exc
