"""The database core: one connection and one lock per process, short write
transactions retried while the file is locked, reads, snapshots and streams.

Every table's module in this package builds on it; no transaction here ever spans
a model call.
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from .. import db

LOCKED_RETRIES = 50


class Database:
    """A sweepq database, shared by the threads of one process.

    One connection and one lock per process: SQLite serialises writers anyway,
    and a lock is fairer to threads than SQLite's busy handler.
    """

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float] = time.time):
        self.conn = conn
        self.clock = clock
        self._lock = threading.RLock()
        self._warned: set[int] = set()          # bad pauses already reported
        self.warn: Callable[[str], None] = _warn_on_stderr

    @classmethod
    def open(cls, path: str | None = None, *, synchronous: str = "NORMAL",
             create: bool = True) -> Database:
        return cls(db.connect(path or db.default_path(), synchronous=synchronous, create=create))

    @classmethod
    def open_for_reading(cls, path: str | None = None, *, synchronous: str = "NORMAL") -> Database:
        """Open as usual; a database in a read-only file or folder opens read-only instead.

        For the commands that only read: a valid database nobody may write is
        still a sweepq database, and status or export of it must work.
        """
        from pathlib import Path

        target = Path(path or db.default_path())
        if target.is_file() and not db.is_writable(target):
            return cls.open_read_only(target)
        return cls(db.connect(target, synchronous=synchronous, create=False))

    @classmethod
    def open_read_only(cls, path: str | os.PathLike[str]) -> Database:
        """A queue that cannot write (`sweepq serve`, `query`, `check`): the one read-only path."""
        return cls(db.connect_read_only(path))

    def close(self) -> None:
        """Close the connection under the lock: never while another thread is inside a
        statement on it (a statement runs with the GIL released; closing under it frees
        memory that thread is still using: a SIGSEGV at exit)."""
        with self._lock:
            self.conn.close()

    # -- transactions -------------------------------------------------------

    def write(self) -> _Write:
        """One short `BEGIN IMMEDIATE` transaction, retried while the database is locked.

        A `database is locked` that escapes the busy timeout is contention, not
        a failure of the job: wait a little and take the lock again. A class, not a
        generator: every claim and complete opens one, and a generator-based context
        manager costs several microseconds more per transaction (see BENCHMARKS.md).
        """
        return _Write(self)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction, so several reads see the same moment.

        Holds this process's lock: its worker threads wait until the reads are done.
        """
        with self._lock:
            if self.conn.in_transaction:
                yield
                return
            self.conn.execute("BEGIN")
            try:
                yield
            finally:
                self.conn.execute("COMMIT")

    def read(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """The rows of a query, as dicts by column name."""
        with self._lock:
            cursor = self.conn.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def has_table(self, name: str) -> bool:
        """Whether the database has table `name` (a read-only one may predate it)."""
        with self._lock:
            return db.has_table(self.conn, name)

    def rows(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> list[tuple]:
        """The rows of a query as tuples (for the statistics, which take them positionally)."""
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def chunks(self, sql: str, params: Iterable[Any] | dict[str, Any] = (),
               size: int = 5_000) -> Iterator[list[tuple]]:
        """The rows of a query `size` at a time, for streaming a whole sweep (export).

        The lock is held per chunk, not across the caller's work between chunks.
        """
        with self._lock:
            cursor = self.conn.execute(sql, params)
        while True:
            with self._lock:
                chunk = cursor.fetchmany(size)
            if not chunk:
                return
            yield chunk


class _Write:
    """`Database.write`'s transaction: the process lock, `BEGIN IMMEDIATE` (retried with a
    short random wait while another process holds the write lock past the busy timeout),
    then `COMMIT`, or `ROLLBACK` on any exception, which is raised again."""

    __slots__ = ("_db",)

    def __init__(self, database: Database):
        self._db = database

    def __enter__(self) -> sqlite3.Connection:
        database = self._db
        database._lock.acquire()
        try:
            for attempt in range(LOCKED_RETRIES):
                try:
                    database.conn.execute("BEGIN IMMEDIATE")
                    return database.conn
                except sqlite3.OperationalError as exc:
                    if not db.is_busy(exc) or attempt == LOCKED_RETRIES - 1:
                        raise
                time.sleep(random.uniform(0.01, 0.1))
        except BaseException:
            database._lock.release()
            raise
        raise AssertionError("unreachable: the last attempt raises")

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        conn = self._db.conn
        try:
            if kind is None:
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            if kind is not None and conn.in_transaction:
                conn.execute("ROLLBACK")
        finally:
            self._db._lock.release()


def _warn_on_stderr(line: str) -> None:
    sys.stderr.write(f"sweepq: warning: {line}\n")
    sys.stderr.flush()

