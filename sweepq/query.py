"""Ad-hoc SQL over a sweepq database, read-only, printed as a table, JSON or CSV.

`sweepq query` is what a researcher reaches for instead of remembering the
`sqlite3` shell's flags. sqlite-utils runs the query and turns rows into
dicts; this module only chooses the output shape. The connection it is given
is read-only (`mode=ro` and `PRAGMA query_only`), so a query can never change
a sweep, even a `DELETE` typed by mistake.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any, Literal

import sqlite_utils

from .errors import SweepqError

Format = Literal["table", "json", "nl", "csv"]


def run(conn: sqlite3.Connection, sql: str,
        params: Sequence[Any] | dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """The rows of `sql` as dicts, streamed. SQLite's complaint becomes one line."""
    try:  # sqlite-utils executes on the call or on the first row, depending on its version
        rows = sqlite_utils.Database(conn).query(sql, params)
        first = next(rows, None)
    except sqlite3.Error as exc:
        raise SweepqError(f"query failed: {_reason(exc)}") from None
    if first is None:
        return iter(())
    return _chain(first, rows)


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    try:
        yield from rest
    except sqlite3.Error as exc:
        raise SweepqError(f"query failed part-way: {_reason(exc)}") from None


def _reason(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return f"{text} (queries are read-only: change a sweep with sweepq's own commands)"
    return text


def write(rows: Iterable[dict[str, Any]], fmt: Format, out: IO[str],
          columns: Callable[[], list[str]] | None = None) -> int:
    """Print `rows` to `out` in `fmt`; return how many there were. A CSV of no rows still
    gets its header row, from `columns` (a spreadsheet or `csv.DictReader` then reads an
    empty table, not an empty file)."""
    writer = {"table": _table, "json": _json, "nl": _lines, "csv": _csv}[fmt]
    n = writer(rows, out)
    if n == 0 and fmt == "csv" and columns is not None:
        csv.writer(out, lineterminator="\n").writerow(columns())
    return n


def columns(conn: sqlite3.Connection, sql: str,
            params: Sequence[Any] | dict[str, Any] | None = None) -> list[str]:
    """The column names `sql` returns, read from the cursor (a query of no rows has them)."""
    try:
        cursor = conn.execute(sql, params or ())
    except sqlite3.Error as exc:
        raise SweepqError(f"query failed: {_reason(exc)}") from None
    return [d[0] for d in cursor.description or ()]


def _json(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    n = 0
    out.write("[")
    for n, row in enumerate(rows, start=1):
        out.write(("\n " if n == 1 else ",\n ") + json.dumps(row, ensure_ascii=False))
    out.write("\n]\n" if n else "]\n")
    return n


def _lines(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    n = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
    return n


def _csv(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    writer: csv.DictWriter[str] | None = None
    n = 0
    for row in rows:
        n += 1
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(row), lineterminator="\n")
            writer.writeheader()
        writer.writerow(row)
    return n


def _table(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """Aligned columns with a header rule; the whole result is held to measure widths."""
    held = list(rows)
    if not held:
        return 0
    names = list(held[0])
    cells = [[_cell(row.get(name)) for name in names] for row in held]
    widths = [max(len(name), *(len(line[i]) for line in cells)) for i, name in enumerate(names)]
    out.write("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)).rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for line in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                  + "\n")
    return len(held)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return " ".join(str(value).split())
