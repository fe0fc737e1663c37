"""`sweepq serve` against hostile clients, over raw sockets on 127.0.0.1.

A page that rebinds its DNS name to 127.0.0.1 sends its own name as `Host`; a
slow or idle client sends half a request and waits; many such clients open
sockets until the server runs out of threads and descriptors.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sweepq import db, serve
from sweepq.queue import Queue, Result, Sweep


@pytest.fixture
def server(db_path: Path) -> Iterator[serve.PageServer]:
    queue = Queue(db.connect(db_path))
    queue.enqueue(Sweep(name="s", arms=["a"], subtasks=["x"], n_per_subtask=1), [("bbh/x/0", {})])
    job = queue.claim("s", "w")
    queue.complete(job.job_id, "w", Result(True, "passed", 1.0, 1))
    queue.close()
    page_server = serve.make_server(str(db_path), "127.0.0.1", 0, "s")
    page_server.limit(max_connections=3, idle_seconds=0.5)
    thread = threading.Thread(target=page_server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield page_server
    page_server.shutdown()
    thread.join()
    page_server.server_close()


def connect(server: serve.PageServer) -> socket.socket:
    return socket.create_connection(server.server_address[:2], timeout=10)


def request(server: serve.PageServer, host: str | None, path: str = "/status.json") -> bytes:
    with connect(server) as sock:
        header = f"Host: {host}\r\n" if host is not None else ""
        sock.sendall(f"GET {path} HTTP/1.1\r\n{header}Connection: close\r\n\r\n".encode())
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def status_code(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def test_only_its_own_address_and_localhost_are_answered(server: serve.PageServer) -> None:
    port = server.server_address[1]
    for host in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", "LOCALHOST"):
        reply = request(server, host)
        assert status_code(reply) == 200, host
        assert b'"sweep": "s"' in reply
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.2:{port}", "", None):
        reply = request(server, host)
        assert status_code(reply) == 421, host
        assert b'"sweep"' not in reply and b"passed" not in reply


def test_a_half_sent_request_is_closed(server: serve.PageServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /status.json HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line
        assert read_all(sock) == b""  # the server hangs up instead of waiting for ever
    assert status_code(request(server, "127.0.0.1")) == 200


def test_connections_beyond_the_cap_are_refused_at_once(server: serve.PageServer) -> None:
    server.limit(max_connections=3, idle_seconds=5.0)  # idle ones outlive the test's steps
    idle = [connect(server) for _ in range(3)]   # the cap: three half-open clients
    try:
        for sock in idle:
            sock.sendall(b"GET / HTTP/1.1\r\n")
        with connect(server) as extra:
            reply = read_all(extra)
        assert status_code(reply) == 503 and b"too many connections" in reply
    finally:
        for sock in idle:
            sock.close()
    # The idle ones are closed, their threads see it and give their slots back (however
    # slowly a loaded machine runs them), and the server answers again.
    for _ in range(300):
        reply = request(server, "127.0.0.1")
        if status_code(reply) == 200:
            break
        time.sleep(0.05)
    assert status_code(reply) == 200
