"""Opening a sweepq database: pragmas, migrations, and refusing what we can't read.

Migrations are the numbered files in `migrations/` (shipped in the wheel as the
package `sweepq.migrations`). `PRAGMA user_version` records how many have been
applied; each is applied in its own transaction together with the version bump.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import random
import re
import sqlite3
import time
from pathlib import Path

from .errors import SweepqError

DEFAULT_PATH = "sweepq.db"
BUSY_TIMEOUT_MS = 30_000
WAL_SWITCH_RETRIES = 200
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) for every migration, in order."""
    return list(_read_migrations())


@functools.cache
def _read_migrations() -> tuple[tuple[int, str, str], ...]:
    """The migration files, read once per process: every open of a database asks for the
    schema version, and a new one for the SQL too (they ship with the package and never
    change under a running process)."""
    return tuple((number, name, path.read_text(encoding="utf-8"))
                 for number, name, path in _migration_files())


def schema_version() -> int:
    """The schema version this sweepq writes: the number of the last migration."""
    return len(migrations())


def _migration_files() -> list[tuple[int, str, Path]]:
    """(number, file name, path) of every migration file, in order, from the folder of
    the package `sweepq.migrations` (a wheel or an editable install puts one on disk;
    `importlib.resources`, which also reads zips, cost every command ~5 ms of imports)."""
    spec = importlib.util.find_spec("sweepq.migrations")
    folders = [] if spec is None else list(spec.submodule_search_locations or [])
    found = []
    for folder in folders:
        for name in os.listdir(folder):
            match = _MIGRATION_NAME.match(name)
            if match:
                found.append((int(match.group(1)), name, Path(folder) / name))
    found.sort()
    numbers = [number for number, _, _ in found]
    if numbers != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations are not numbered 0001..{len(found):04d}: {numbers}")
    return found


def default_path() -> str:
    return os.environ.get("SWEEPQ_DB") or DEFAULT_PATH


def connect(path: str | os.PathLike[str], *, synchronous: str = "NORMAL", create: bool = True,
            migrate: bool = True) -> sqlite3.Connection:
    """Open (and by default create and migrate) a sweepq database.

    The connection is in autocommit mode (`isolation_level=None`): every write
    transaction is an explicit, short `BEGIN IMMEDIATE … COMMIT` in queue.py,
    never an implicit one left open by the sqlite3 module.
    """
    path = Path(path)
    if not create and not path.exists():
        raise SweepqError(f"no database at {path}: run `sweepq enqueue` first or pass `db` "
                          "PATH")
    if not path.exists():
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise SweepqError(f"cannot create database {path}: folder {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise SweepqError(f"cannot create database {path}: folder {parent} is not writable")
    elif path.is_dir():
        raise SweepqError(f"{path} is a folder, not a database file: pass `db` FILE")
    elif not is_writable(path):
        raise SweepqError(f"the database {path} is read-only ({read_only_reason(path)}): "
                          "this command writes; make it writable, or use a command that "
                          "only reads (status, export, summary, report, serve, check)")
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        foreign = False
        if version == 0 and _has_tables(conn):
            # Another process may have migrated this new database since we read the
            # version: its tables and version bump commit together, so read it again.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            foreign = version == 0
    except sqlite3.DatabaseError as exc:
        raise SweepqError(f"{path} is not a sweepq database ({exc}): pass `db` with another "
                          "file") from None
    latest = schema_version()
    if version > latest:
        conn.close()
        raise SweepqError(f"{path} has schema version {version}, newer than this sweepq "
                          f"understands ({latest}): upgrade sweepq")
    if version and not _is_sweepq(conn):
        conn.close()
        raise SweepqError(f"{path} is an SQLite database but not a sweepq one: pass `db` "
                          "with another file")
    if foreign:
        conn.close()
        raise SweepqError(f"{path} is an SQLite database of something else: pass `db` "
                          "with another file")
    try:
        _pragmas(conn, synchronous)
        if migrate and version < latest:
            _migrate(conn, version)
    except sqlite3.OperationalError as exc:
        conn.close()
        raise SweepqError(f"cannot open {path}: {exc}") from None
    return conn


def is_writable(path: Path) -> bool:
    """Whether SQLite can write `path`: the file, and its folder (for the -wal and -shm files)."""
    folder = path.parent if str(path.parent) else Path(".")
    return os.access(path, os.W_OK) and os.access(folder, os.W_OK)


def read_only_reason(path: Path) -> str:
    if not os.access(path, os.W_OK):
        return "the file is not writable"
    return f"its folder {path.parent} is not writable"


def connect_read_only(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open an existing sweepq database for reading only (`mode=ro`); never writes or migrates.

    A WAL database whose folder is read-only cannot get the -shm file a normal
    reader needs: it is then opened `immutable`, which is right since nobody
    can be writing it either.
    """
    path = Path(path)
    if not path.is_file():
        raise SweepqError(f"no database at {path}: pass `db` PATH")
    uri = path.resolve().as_uri()
    conn = None
    for flags in ("mode=ro", "mode=ro&immutable=1"):
        try:
            conn = sqlite3.connect(f"{uri}?{flags}", uri=True, check_same_thread=False,
                                   isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            conn.execute("PRAGMA query_only = ON")
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            sweepq = _is_sweepq(conn)
            break
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            retry = getattr(exc, "sqlite_errorcode", 0) & 0xFF in (sqlite3.SQLITE_CANTOPEN,
                                                                   sqlite3.SQLITE_READONLY)
            if flags.endswith("immutable=1") or not retry:
                raise SweepqError(f"cannot read {path} as a sweepq database: {exc}") from None
    if not sweepq:
        conn.close()
        raise SweepqError(f"{path} is not a sweepq database: pass `db` with another file")
    if version > schema_version():
        conn.close()
        raise SweepqError(f"{path} has schema version {version}, newer than this sweepq "
                          f"understands ({schema_version()}): upgrade sweepq")
    return conn


def _pragmas(conn: sqlite3.Connection, synchronous: str) -> None:
    if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise SweepqError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # Switching a new file to WAL needs an exclusive lock, and SQLite answers a
    # contended switch with SQLITE_BUSY at once, without the busy handler (two
    # processes opening a new database together): retry it for a while.
    for attempt in range(WAL_SWITCH_RETRIES):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or attempt == WAL_SWITCH_RETRIES - 1:
                raise
            time.sleep(random.uniform(0.005, 0.05))
    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    conn.execute("PRAGMA foreign_keys = ON")


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether the error is contention (the file busy or a table locked), worth a retry."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the database has table `name`: a read-only database is never migrated, so
    a reader of a table newer than the first migration asks first."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (name,)).fetchone() is not None


def _has_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0


def _is_sweepq(conn: sqlite3.Connection) -> bool:
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return {"sweeps", "jobs", "results"} <= names


def _migrate(conn: sqlite3.Connection, current: int) -> None:
    """Apply each pending migration atomically with its version bump.

    The version is read again inside the write transaction, so two processes
    opening a new database at once apply each migration exactly once.
    """
    for number, _name, sql in migrations():
        if number <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] < number:
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _statements(sql: str) -> list[str]:
    """Split a migration file into statements (sqlite3 runs one per execute)."""
    statements, pending = [], ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                statements.append(pending.strip())
            pending = ""
    if pending.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in pending.splitlines()
    ):
        raise RuntimeError(f"migration ends in an incomplete statement: {pending.strip()[:60]}")
    return statements
