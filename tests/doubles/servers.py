"""What the HTTP doubles share: a threaded server on 127.0.0.1 and a free port, serving one owner."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def serve(handler: type[BaseHTTPRequestHandler], owner: Any, name: str) -> ThreadingHTTPServer:
    """Start serving ``handler`` (a subclass made with ``owner`` as its ``owner``) in a daemon thread."""
    bound = type(handler.__name__, (handler,), {"owner": owner})
    server = ThreadingHTTPServer(("127.0.0.1", 0), bound)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name=name).start()
    return server


def stop(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


class Served:
    """What a double served over HTTP does alike: ``start()`` serves its ``handler_class()`` (with the double
    as the handler's ``owner``) and returns its ``url``; ``stop()`` stops it."""

    _server: ThreadingHTTPServer | None = None

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> str:
        self._server = serve(self.handler_class(), self, type(self).__name__)
        return self.url

    def stop(self) -> None:
        stop(self._server)

    @property
    def url(self) -> str:
        return url(self._server)
