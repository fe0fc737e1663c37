"""One line for an environmental failure: SQLite errors and OS errors, with what to do next.

The CLI shows these instead of a traceback. They are not bugs: the disk is
full, the file is read-only or corrupt, another process holds the lock, a
folder is missing. `explain()` returns None for anything else, which the CLI
then reports as an internal error (a bug).
"""

from __future__ import annotations

import errno
import sqlite3

from .redact import one_line

_SQLITE = {
    sqlite3.SQLITE_FULL: "the disk holding the database is full: free some space, then run "
                         "the command again",
    sqlite3.SQLITE_READONLY: "the database is read-only: make the file and its folder "
                             "writable, or use a command that only reads",
    sqlite3.SQLITE_BUSY: "the database stayed locked by another process past the 30 s "
                         "timeout: try again when that process is done",
    sqlite3.SQLITE_LOCKED: "the database stayed locked past the 30 s timeout: try again",
    sqlite3.SQLITE_CORRUPT: "the database file is corrupt: restore a copy, or run "
                            "`sweepq check` to see what is damaged",
    sqlite3.SQLITE_NOTADB: "the file is not an SQLite database, or it is damaged: pass --db "
                           "with another file",
    sqlite3.SQLITE_IOERR: "a disk I/O error while using the database (a full or failing "
                          "disk?): check the disk, then run `sweepq check`",
    sqlite3.SQLITE_CANTOPEN: "cannot open the database file (a missing or unreadable "
                             "folder?): check the --db path",
    sqlite3.SQLITE_PERM: "permission denied on the database: check the file's permissions",
}

_OS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EISDIR: "it is a folder",
    errno.EPIPE: "the output was closed (broken pipe)",
    errno.EIO: "an I/O error (a failing disk?)",
}


def explain(exc: BaseException) -> str | None:
    """The one-line message for a SQLite or OS error; None when it is neither (a bug)."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        known = _SQLITE.get(code & 0xFF) if code is not None else None
        if known is None and isinstance(exc, sqlite3.DatabaseError) and \
                "malformed" in str(exc):
            known = _SQLITE[sqlite3.SQLITE_CORRUPT]
        return one_line(f"{known} ({exc})" if known else f"database error: {exc}")
    if isinstance(exc, OSError):
        what = _OS.get(exc.errno or 0) or exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename else ""
        return one_line(f"{what}{where}")
    return None


