"""Exceptions raised by textcell.

Every error says what is wrong and what to do about it. Catch :class:`TextcellError`
to handle all of them.
"""

from __future__ import annotations


class TextcellError(Exception):
    """Base class of every textcell error."""


class InputError(TextcellError, ValueError):
    """The data or arguments given to textcell cannot be used as they are."""


class GeneIdError(InputError):
    """Gene identifiers cannot be resolved (empty, duplicated, wrong kind or species)."""


class CorpusError(TextcellError):
    """The gene corpus file is missing, corrupt or of an unknown format."""


class CacheError(TextcellError):
    """An on-disk cache cannot be read or written."""


class BackendError(TextcellError):
    """A remote service or model backend failed."""


class RateLimitError(BackendError):
    """The service kept answering 'too many requests' after all retries."""


class AuthError(BackendError):
    """The service rejected the credentials."""


class ResponseError(BackendError):
    """The service answered with something that is not what its protocol promises."""


class TextcellWarning(UserWarning):
    """Warnings emitted by textcell."""
