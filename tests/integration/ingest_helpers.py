"""A local feed server (good, failing, slow, malformed, oversized, redirecting, hostile feeds) and
the ingest service as a real subprocess."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from tests.integration.processes import ServiceProcess, free_port

GOOD_RSS = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Frontier</title>
<item><title>Torkham crossing closed after overnight clashes</title>
<link>https://feeds.example/a?utm_source=rss</link><pubDate>Sun, 12 Oct 2025 12:00:00 +0500</pubDate>
<description>&lt;p&gt;Trucks stranded.&lt;/p&gt;</description></item>
<item><title>Chaman reopens for pedestrians</title><link>https://feeds.example/b</link>
<pubDate>Mon, 13 Oct 2025 08:00:00 GMT</pubDate></item>
<item><link>https://feeds.example/no-title</link></item>
</channel></rss>"""
BOMB = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>
<rss version="2.0"><channel><item><title>&b;</title><link>https://x.example/1</link></item></channel></rss>"""
ETAG = '"good-v1"'


class _NoDelayServer(ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the service hangs up on slow and oversized answers on purpose


class FeedServer:
    """Serves /good.xml (ETag, 304), /fail.xml (500), /slow.xml, /broken.xml, /big.xml, /loop, /bomb.xml."""

    def __init__(self, slow_s: float = 5.0) -> None:
        self.hits: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path
                if path == "/good.xml":
                    if self.headers.get("if-none-match") == ETAG:
                        self._reply(304, b"", path)
                    else:
                        self._reply(
                            200, GOOD_RSS, path, {"etag": ETAG, "content-type": "application/rss+xml"}
                        )
                elif path == "/fail.xml":
                    self._reply(500, b"oops", path)
                elif path == "/slow.xml":
                    time.sleep(slow_s)
                    self._reply(200, GOOD_RSS, path)
                elif path == "/broken.xml":
                    self._reply(200, b"<rss><channel><item><title>cut", path)
                elif path == "/big.xml":
                    self._reply(200, b"<rss>" + b" " * 200_000 + b"</rss>", path)
                elif path == "/loop":
                    self._reply(302, b"", path, {"location": "/loop"})
                elif path == "/bomb.xml":
                    self._reply(200, BOMB, path)
                else:
                    self._reply(404, b"", path)

            def _reply(
                self, status: int, body: bytes, path: str, headers: dict[str, str] | None = None
            ) -> None:
                with server._lock:
                    server.hits[(path, status)] += 1
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _NoDelayServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="feed-server", daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def count(self, path: str, status: int) -> int:
        with self._lock:
            return self.hits[(path, status)]

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class IngestProcess(ServiceProcess):
    """``borderwatch ingest`` with its output in a log file; ``port`` is its push API."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        super().__init__("ingest", {**env, "BW_INGEST_API_PORT": str(self.port)}, log_path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> Self:
        return super().start(timeout_s)
