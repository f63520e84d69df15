"""A scripted HTTP server on 127.0.0.1 for tests: a background thread, a fault queue, a release."""

from __future__ import annotations

import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ScriptedServer:
    """Serve ``handler`` on 127.0.0.1 (free port) while used as a context manager.

    Handlers reach this object as ``self.server.owner``. ``faults`` holds one scripted fault per
    request (``None``: answer normally), ``always`` the fault once it is empty; ``release`` lets a
    held request go.
    """

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self.faults: deque[str | None] = deque()
        self.always: str | None = None
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._httpd.handle_error = lambda request, address: None  # clients that hang up early
        self.host, self.port = self._httpd.server_address[:2]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    def next_fault(self) -> str | None:
        with self._lock:
            return self.faults.popleft() if self.faults else self.always

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
