"""``ByteMeter``: a TCP relay on 127.0.0.1 that counts the bytes between its clients and one server.

Point a client (e.g. a ``wasb`` connection's ``BlobEndpoint``) at ``meter.port`` instead of the server's
port and ``meter.total`` says how many bytes that client moved, both ways. Used to show that a
server-side copy moves no data through the Airflow worker, and by ``benchmarks/data_transfer.py``.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class ByteMeter:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self.to_server = 0
        self.to_client = 0
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, name="byte-meter", daemon=True).start()

    @property
    def total(self) -> int:
        with self._lock:
            return self.to_server + self.to_client

    def reset(self) -> None:
        with self._lock:
            self.to_server = self.to_client = 0

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            for source, sink, upstream in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(source, sink, upstream), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        try:
            while data := source.recv(1 << 16):
                sink.sendall(data)
                with self._lock:
                    if upstream:
                        self.to_server += len(data)
                    else:
                        self.to_client += len(data)
        except OSError:
            pass
        finally:
            # One direction ending ends the connection: the other pump's recv then returns or fails.
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
