"""The fake Messages API on loopback HTTP, for the real SDK, real processes and benchmarks.

Point the `anthropic` SDK at it with ``ANTHROPIC_BASE_URL=http://127.0.0.1:PORT`` (or
``base_url=``): tests, the offline demo, dry runs and benchmarks then exercise the SDK's
real HTTP path, exceptions and headers. Standard library only: `ThreadingHTTPServer`
answers each connection in its own thread, `BaseHTTPRequestHandler` writes the status
line and headers. Request bodies must carry a content-length (the SDK always sends
one); a chunked body is refused with 411 rather than decoded by hand.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .config import FakeConfig
from .engine import FakeEngine
from .wire import REASONS, Reply, error_reply

# How often the serving loop looks for a stop: `stop` waits up to this long, and a test
# starts and stops hundreds of fakes (0.1 s was most of a short test's time).
POLL_SECONDS = 0.01


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], engine: Any) -> None:
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        self.engine = engine
        self.conns: set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a killed worker) is normal here, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.conns_lock:
            self.conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.conns_lock:
            self.conns.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Close kept-alive connections too, so a stopped fake refuses its old clients."""
        with self.conns_lock:
            conns = list(self.conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-anthropic"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _dispatch(self) -> None:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self.close_connection = True
            self._send(error_reply(411, "invalid_request_error",
                                   "a content-length is required"))
            return
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        self._send(self.server.engine.handle(self.command, self.path, self.headers, raw))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def _send(self, r: Reply) -> None:
        if r.reset:
            self._reset()
            return
        try:
            self.send_response(r.status, REASONS.get(r.status, "Error"))
            self.send_header("content-type", r.content_type)
            self.send_header("content-length", str(len(r.body)))
            for k, v in r.headers:
                self.send_header(k, v)
            if self.close_connection:
                self.send_header("connection", "close")
            self.end_headers()
            self.wfile.write(r.body)
        except OSError:
            self.close_connection = True

    def _reset(self) -> None:
        """Drop the connection without a response: RST via SO_LINGER 0."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True


class Loopback:
    """Serves `self.handle(method, path, headers, raw) -> Reply` on loopback HTTP, in a
    background thread; a context manager. Every fake (Messages, Chat Completions,
    generateContent) is an engine with this mixed in."""

    host: str = "127.0.0.1"
    _port: int = 0
    _server: _Server | None = None
    _thread: threading.Thread | None = None

    def _listen_on(self, host: str, port: int) -> None:
        self.host, self._port = host, port
        self._server, self._thread = None, None

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Any:
        if self._server is None:
            self._server = _Server((self.host, self._port), self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": POLL_SECONDS},
                name="fakeapi", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        srv, self._server = self._server, None
        if srv is None:
            return
        self._port = srv.server_address[1]
        srv.shutdown()
        srv.server_close()
        srv.drop_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FakeAPI(FakeEngine, Loopback):
    """The fake Messages API served over HTTP; a context manager running in a background thread."""

    def __init__(self, config: FakeConfig | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        super().__init__(config)
        self._listen_on(host, port)

    def start(self) -> FakeAPI:
        return super().start()

    def __enter__(self) -> FakeAPI:
        return self.start()
