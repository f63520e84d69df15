"""Ctrl-C and SIGTERM that stop the command line cleanly, even where Python swallows the exception.

Python ignores an exception raised inside a weakref callback or ``__del__`` (it prints "Exception
ignored in ..." with a traceback and goes on), and some libraries turn one into another error: a
Ctrl-C that lands there during an h5ad write would let the write finish, or end in a traceback.
Under :func:`installed`, a swallowed interrupt is delivered again instead of printed, and every
interrupt is remembered, so :func:`raise_if_interrupted` raises it before a file is moved into place
(:func:`textcell._io.atomic_path`) and :func:`exit_status` knows why the program stopped.
"""

from __future__ import annotations

import _thread
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

_received: list[int] = []


class Terminated(BaseException):  # named like KeyboardInterrupt, its sibling
    """SIGTERM arrived: raised like KeyboardInterrupt, so ``finally`` blocks and cleanups run."""


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """Within the block, Ctrl-C raises KeyboardInterrupt and SIGTERM raises :class:`Terminated`
    (instead of ending the process on the spot), and both are remembered. For programs that own
    their process (the command line), not for library calls; only from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    previous_hook = sys.unraisablehook

    def redeliver_swallowed(unraisable) -> None:
        if _received and isinstance(unraisable.exc_value, (KeyboardInterrupt, Terminated)):
            # from another thread (not waited for), so it runs again after this callback
            _thread.start_new_thread(signal.raise_signal, (_received[-1],))
        else:
            previous_hook(unraisable)

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    sys.unraisablehook = redeliver_swallowed
    try:
        yield
    finally:
        _received.clear()
        sys.unraisablehook = previous_hook
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])


def _on_signal(signum: int, _frame) -> None:
    _received.append(signum)
    _raise(signum)


def _raise(signum: int) -> None:
    if signum == signal.SIGTERM:
        raise Terminated("SIGTERM")
    raise KeyboardInterrupt


def raise_if_interrupted() -> None:
    """Raise the interrupt that arrived under :func:`installed`, if any (again, if swallowed)."""
    if _received:
        _raise(_received[-1])


def exit_status(exc: BaseException) -> int | None:
    """128 + the signal number if the program stops with ``exc`` because it was interrupted (also
    when a library turned the interrupt into another error), else None."""
    if _received:
        return 128 + _received[-1]
    if isinstance(exc, KeyboardInterrupt):
        return 128 + signal.SIGINT
    return None


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block ends (POSIX; elsewhere they do not wait): for steps
    such as creating a file and taking note of it, which an exception must not split."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
