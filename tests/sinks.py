"""Real local servers that stand in for the outside world in integration tests."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], tuple[int, dict[str, str]]]


class _NoDelayServer(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        super().server_bind()

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        # Without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms to every small response.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


class HttpSink:
    """An HTTP server that records every JSON body POSTed to it.

    ``responder`` decides the status and headers of each answer (200 by default), so a test
    can make it behave like a webhook that throttles or fails.
    """

    def __init__(self, responder: Responder | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._responder = responder or (lambda body: (200, {}))
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length).decode() or "null")
                status, headers = sink._responder(body)
                if 200 <= status < 300:
                    with sink._lock:
                        sink.received.append(body)
                        sink.headers.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _NoDelayServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-sink", daemon=True)

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/hooks/alerts"

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.received)

    def __enter__(self) -> HttpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
