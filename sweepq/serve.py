"""`sweepq serve`: the sweep's page rendered from the database on each request.

Over a read-only connection (`Queue.open_read_only`): it never writes, and works
while workers run. Also /status.json and /summary.json.

A page of results is worth guarding even on loopback: a request whose `Host` is
not the bound address (or `localhost`) is refused, so a web page that rebinds its
own DNS name to 127.0.0.1 cannot read the results; a connection idle for
IDLE_SECONDS (a half-sent request) is closed, and at most MAX_CONNECTIONS are
served at once (the rest get a 503 at once), so idle sockets cannot pile up
threads and descriptors.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import report
from .errors import SweepqError
from .page import CSP, collect, error_page, index_page, render
from .queue import Queue

IDLE_SECONDS = 10.0
MAX_CONNECTIONS = 32
_BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
         b"Connection: close\r\nContent-Length: 35\r\n\r\ntoo many connections: try again soon")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PageServer(ThreadingHTTPServer):
    """Renders the page per request from a read-only connection to the database."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], db_path: str, sweep: str | None,
                 baseline: str | None, refresh: float | None):
        self.db_path, self.sweep, self.baseline, self.refresh = db_path, sweep, baseline, refresh
        self._cache: dict[tuple, tuple] = {}
        self._cache_lock = threading.Lock()
        self.idle_seconds, self.max_connections = IDLE_SECONDS, MAX_CONNECTIONS
        Queue.open_read_only(db_path).close()     # fail now, not on the first request
        super().__init__(address, _Handler)
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self.allowed_hosts = _allowed_hosts(address[0], self.server_address[0])

    def limit(self, max_connections: int, idle_seconds: float) -> None:
        """Change the caps (before serving): tests use small ones."""
        self.max_connections, self.idle_seconds = max_connections, idle_seconds
        self._slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread per connection, up to max_connections; beyond it a 503 and close."""
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # The slot is given back before the socket closes: a client that reads the reply
        # to its end and connects again at once must find it free.
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self._slots.release()
            self.shutdown_request(request)

    def host_allowed(self, header: str | None) -> bool:
        """Whether a request's `Host` names this server (DNS rebinding names another)."""
        if not header:
            return False
        host = header.strip().lower()
        if host.startswith("["):                        # [::1]:8787
            host = host[1:].split("]", 1)[0]
        elif host.count(":") == 1:                      # 127.0.0.1:8787, localhost:8787
            host = host.split(":", 1)[0]
        if host in self.allowed_hosts:
            return True
        # Bound to every address: any IP literal names this machine; a DNS name does not.
        return "*" in self.allowed_hosts and _is_ip(host)

    def summary(self, queue: Queue, sweep_name: str | None) -> dict[str, Any]:
        """The summary, recomputed only when it may have changed and is worth the work.

        Reused while no result was added; also reused, though results were
        added, until it is ten times as old as it took to compute, so a
        million-result sweep costs at most a tenth of the server's time (its
        table then lags the live counts by seconds; the footer says how many
        results it covers).
        """
        sweep = queue.resolve_sweep(sweep_name)
        key_row = queue.read("SELECT max(completion_seq) AS seq, count(*) AS n FROM results")[0]
        key = (key_row["seq"], key_row["n"])
        now = time.monotonic()
        with self._cache_lock:
            cached = self._cache.get((sweep.name, self.baseline))
        if cached is not None:
            cached_key, value, computed_at, cost = cached
            if cached_key == key or now - computed_at < 10 * cost:
                return value
        value = report.summary(queue, sweep, self.baseline)
        with self._cache_lock:
            self._cache[(sweep.name, self.baseline)] = (key, value, now,
                                                        time.monotonic() - now)
        return value


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _allowed_hosts(asked: str, bound: str) -> set[str]:
    """The names a request may use for this server: its address as asked and as bound."""
    hosts = {"localhost", asked.lower().strip("[]"), str(bound).lower()}
    if any(h in ("", "0.0.0.0", "::") for h in (asked, bound)):
        hosts.add("*")
    if asked.lower() != "localhost" and not _is_ip(asked):
        try:  # a name the user chose (e.g. the machine's own): its addresses too
            hosts.update(info[4][0] for info in socket.getaddrinfo(asked, None))
        except OSError:
            pass
    return hosts


class _Handler(BaseHTTPRequestHandler):
    server: PageServer
    server_version = "sweepq"

    def setup(self) -> None:
        self.timeout = self.server.idle_seconds   # a half-sent request is closed, not held
        super().setup()

    def do_GET(self) -> None:  # noqa: N802 — the http.server API
        self._respond(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._respond(head=True)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _respond(self, head: bool) -> None:
        if not self.server.host_allowed(self.headers.get("Host")):
            self._send(421, error_page("this server answers only requests for its own address"
                                       f" ({self.server.server_address[0]} or localhost)")
                       .encode(), "text/html", head)
            return
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        sweep = (query.get("sweep") or [self.server.sweep])[0]
        try:
            if url.path == "/favicon.ico":
                self._send(204, b"", "text/plain", head)
                return
            if url.path not in ("/", "/status.json", "/summary.json"):
                self._send(404, error_page(f"no page {url.path}").encode(), "text/html", head)
                return
            queue = Queue.open_read_only(self.server.db_path)
            try:
                if url.path == "/" and sweep is None and len(queue.sweep_names()) != 1:
                    body = index_page(queue.sweep_names()).encode()
                    self._send(200, body, "text/html", head)
                    return
                if url.path == "/status.json":
                    data: Any = report.status(queue, queue.resolve_sweep(sweep))
                elif url.path == "/summary.json":
                    data = self.server.summary(queue, sweep)
                else:
                    page = collect(queue, sweep, self.server.baseline,
                                   self.server.summary(queue, sweep))
                    self._send(200, render(page, self.server.refresh).encode(), "text/html",
                               head)
                    return
            finally:
                queue.close()
            self._send(200, json.dumps(data, indent=2).encode(), "application/json", head)
        except SweepqError as exc:
            self._send(404, error_page(str(exc)).encode(), "text/html", head)
        except Exception as exc:  # a bug must not kill the server; say what went wrong
            print(f"sweepq serve: {type(exc).__name__}: {exc}", file=sys.stderr)
            self._send(500, error_page(f"internal error: {type(exc).__name__}: {exc}").encode(),
                       "text/html", head)

    def _send(self, code: int, body: bytes, kind: str, head: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if not head:
            self.wfile.write(body)


def make_server(db_path: str, host: str = "127.0.0.1", port: int = 8787,
                sweep: str | None = None, baseline: str | None = None,
                refresh: float | None = 10) -> PageServer:
    """A page server bound to host:port (port 0: any free port)."""
    try:
        return PageServer((host, port), db_path, sweep, baseline, refresh)
    except OSError as exc:
        raise SweepqError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve_forever(server: PageServer) -> None:
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
