"""The historical JSONL format: a `_meta` line, then one row per (task_id, arm).

Every line is `json.dumps(obj)` with default separators plus a newline; row
keys are task_id, arm, passed, detail, wall_seconds, sub_calls and, when the
sweep names its benchmark, benchmark. Files from before the `_meta` line had
neither it nor the benchmark key; `sweeps.has_meta` and a NULL benchmark
remember that, so import then export reproduces any such file byte for byte.

A file written by other hands (CRLF, `2.50`, reordered keys, keys of its own) is
kept as it was read: each row's line in `results.line`, the `_meta` line in
`sweeps.meta_line`, written back verbatim. Import is exact or refuses: what it
could not give back (a second row for a task and arm, another benchmark than
`_meta`'s, a key written twice) is an error naming the line, unless `lenient`.

Import and export are one contract, kept in one module: export writes exactly what
import kept, or what a run made in the same format.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import IO, Any

from . import bounds, storetext
from .errors import SweepqError
from .queue import Queue, Result, Sweep
from .rescore import verdict_source

EXPORT_BATCH = 5_000
ROW_KEYS = ("task_id", "arm", "passed", "detail", "wall_seconds", "sub_calls")
_ORDERS = {"completion": "r.completion_seq", "canonical": "j.position"}


@dataclass(frozen=True)
class ImportReport:
    sweep: str
    rows: int
    new: int
    changes: list[str] = field(default_factory=list)   # what `lenient` changed, a line each


@dataclass(frozen=True)
class HistoricalFile:
    """A parsed and checked historical file, not yet imported."""

    path: Path
    meta: dict[str, Any] | None
    rows: list[dict[str, Any]]
    numbers: list[int] = field(default_factory=list)          # each row's line number
    lines: list[str | None] | None = None    # each row as read (None: exported as built)
    meta_line: str | None = None             # the _meta line as read
    changes: list[str] = field(default_factory=list)


# -- export -------------------------------------------------------------------

def export(queue: Queue, sweep: Sweep, out: IO[str], order: str = "completion",
           include_errors: bool = False, scoring: str | None = None) -> int:
    """Write the sweep's results in the historical format; return the row count.

    Streams: rows are fetched and written EXPORT_BATCH at a time. `error`
    jobs are left out unless asked for; then they are written as the old
    runner did (passed false, detail = the error), after the results in
    completion order, or in their place in canonical order. `scoring`: the verdicts of
    that stored scoring (`rescore.scoring_of`) instead of the sweep's own. An imported
    row is written as its file had it (`results.line`), unless rescored (its line holds
    the old verdict); an imported file's last line without a line end gets one only when
    another line follows it.
    """
    if order not in _ORDERS:
        raise SweepqError(f"unknown order {order!r}: use completion or canonical")
    if sweep.has_meta:
        out.write(_meta_line(queue, sweep))
    tail = "}\n" if sweep.benchmark is None else f', "benchmark": {_string(sweep.benchmark)}}}\n'
    # A sweep sweepq ran has no kept lines: its rows take the short path, as they always did.
    kept = scoring is None and _has_kept_lines(queue, sweep.name)
    line = _kept_line if kept else _line
    written, owed = 0, False
    for batch in _rows(queue, sweep.name, order, include_errors, scoring, kept):
        text = "".join(line(row, tail) for row in batch)
        if _STORED_ESCAPE in text or storetext.ESCAPE in text:
            text = "".join(line(_loaded(row), tail) for row in batch)  # rare: storetext
        if owed:
            out.write("\n")
        owed = text.endswith(_OPEN)
        if owed or _OPEN in text:
            text = text.removesuffix(_OPEN).replace(_OPEN, "\n")
        out.write(text)
        written += len(batch)
    return written


def _has_kept_lines(queue: Queue, sweep: str) -> bool:
    """Whether any result of the sweep was imported with its line (index results_lines)."""
    # CROSS JOIN: the kept lines first (a sweep sweepq ran has none), not every job's row.
    return bool(queue.rows("SELECT 1 FROM results AS r CROSS JOIN jobs AS j USING (job_id)"
                           " WHERE r.line IS NOT NULL AND j.sweep = ? LIMIT 1", (sweep,)))


def _meta_line(queue: Queue, sweep: Sweep) -> str:
    """The imported file's own _meta line, else the sweep's, rebuilt."""
    kept = queue.rows("SELECT meta_line FROM sweeps WHERE sweep = ?", (sweep.name,))
    if kept and kept[0][0] is not None:
        return storetext.load(kept[0][0])
    return json.dumps(sweep.meta()) + "\n"


# A row is what json.dumps(dict) would write, built from a format string: the same
# encoders json uses, without a dict and an encoder call per row (half the CPU of export).
_string = encode_basestring_ascii
# Marks an imported line that had no line end (a file's last): no JSON line holds a NUL.
_OPEN = "\x00"
# What storetext.ESCAPE looks like in a built line: one scan of a batch's text finds any.
_STORED_ESCAPE = encode_basestring_ascii(storetext.ESCAPE)[1:-1]


def _kept_line(row: tuple, tail: str) -> str:
    """An imported row's own line (its file's last line had no line end: marked), or the
    row built from its columns."""
    line = row[6]
    if line is None:
        return _line(row[:6], tail)
    return line if line[-1] == "\n" else line + _OPEN


def _line(row: tuple, tail: str) -> str:
    task_id, arm, passed, detail, wall, sub_calls = row
    return (f'{{"task_id": {_string(task_id)}, "arm": {_string(arm)}, '
            f'"passed": {"true" if passed else "false"}, "detail": {_string(detail)}, '
            f'"wall_seconds": {_number(wall)}, "sub_calls": {int(sub_calls)}{tail}')


def _loaded(row: tuple) -> tuple:
    task_id, arm, passed, detail, wall, sub_calls, *line = row
    return (storetext.load(task_id), storetext.load(arm), passed, storetext.load(detail),
            wall, sub_calls, *map(storetext.load_opt, line))


def _number(value: float | None) -> str:
    if value is None:
        return "null"
    text = float.__repr__(float(value))
    return text if text[-1].isdigit() else json.dumps(value)  # nan and infinities


def _rows(queue: Queue, sweep: str, order: str, include_errors: bool,
          scoring: str | None = None, kept: bool = False) -> Iterator[list]:
    alias, join = verdict_source(scoring)
    line = ", r.line" if kept else ""
    done = (f"SELECT j.task_id, j.arm, {alias}.passed, {alias}.detail, r.wall_seconds,"
            f" r.sub_calls{line} FROM results AS r JOIN jobs AS j USING (job_id){join}"
            " WHERE j.sweep = :sweep")
    errors = ("SELECT task_id, arm, 0, coalesce(last_error, 'error'), NULL,"
              " (SELECT count(*) FROM calls WHERE calls.job_id = jobs.job_id"
              f"  AND calls.error_class IS NULL){', NULL' if kept else ''}"
              " FROM jobs WHERE sweep = :sweep AND state = 'error'")
    if order == "completion":
        queries = [done + " ORDER BY r.completion_seq"]
        if include_errors:
            queries.append(errors + " ORDER BY position")
    else:
        sql = done.replace("j.task_id, j.arm", "j.position, j.task_id, j.arm")
        if include_errors:
            sql += " UNION ALL " + errors.replace("SELECT task_id", "SELECT position, task_id")
        queries = [f"SELECT task_id, arm, passed, detail, wall_seconds, sub_calls"
                   f"{', line' if kept else ''}"
                   f" FROM ({sql}) ORDER BY position"]
    for sql in queries:
        yield from queue.chunks(sql, {"sweep": sweep}, EXPORT_BATCH)


# -- import -------------------------------------------------------------------

class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique: json would keep the last of two silently."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return obj


_SURROGATE = re.compile("[\ud800-\udfff]")
_ABSENT = object()
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)   # one, not one per line


def read_file(path: str | Path, lenient: bool = False) -> HistoricalFile:
    """Parse and check a historical file; a line sweepq would not keep exactly is refused
    naming its number (with `lenient`, changed and listed instead).

    The CLI reads the file before it opens the database, so a bad file leaves no
    new database behind.
    """
    path = Path(path)
    return _Parser(path, lenient).parse(_read(path))


def import_file(queue: Queue, source: str | Path | HistoricalFile,
                sweep_name: str | None = None, lenient: bool = False) -> ImportReport:
    """Read a historical file into a sweep with its results, all in one transaction.

    The file's line order becomes the completion order, and each line is kept as
    written, so export gives the file back byte for byte. A malformed line, a second
    row for a (task_id, arm), a row whose benchmark is not the `_meta` line's, or a
    row the sweep already holds with another result is an error naming its line, and
    nothing is imported; `lenient` imports anyway and lists each change. Importing
    the same file again adds nothing. `source` is a path or what `read_file` returned.
    """
    parsed = source if isinstance(source, HistoricalFile) \
        else read_file(source, lenient=lenient)
    path, meta, rows = parsed.path, parsed.meta, parsed.rows
    name = sweep_name or path.stem
    changes = list(parsed.changes)

    def accept(conflicts: list[int]) -> None:
        for i in conflicts:
            row, number = rows[i], parsed.numbers[i]
            said = (f"({row['task_id']}, {row['arm']}) is already in sweep {name}, "
                    "without this result")
            if not lenient:
                raise SweepqError(f"{path}:{number}: {said}: nothing imported (import into "
                                  "another `sweep`, or pass `lenient` to keep what is there)")
            changes.append(f"line {number}: {said}: kept that one")

    # Arms the rows use beyond the _meta list sort after it; the _meta list stays as written.
    new = queue.import_results(_sweep_for(name, meta, rows), [
        (row["task_id"], row["arm"], Result(row["passed"], row["detail"],
                                            _wall(row["wall_seconds"]), row["sub_calls"]))
        for row in rows], parsed.lines, parsed.meta_line, accept)
    return ImportReport(sweep=name, rows=len(rows), new=new, changes=changes)


def _wall(value: float | int | None) -> float | None:
    return None if value is None else float(value)


def _read(path: Path) -> str:
    """The file's text with its line ends as they are (no newline translation)."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise SweepqError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise SweepqError(f"{path} is a folder: pass a .jsonl results file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepqError(f"cannot read {path}: {exc}") from None


def _split(text: str) -> list[str]:
    """The file's lines, each with its own end; only \\n ends a line (JSON text may hold
    U+2028 and other characters `str.splitlines` would split at)."""
    pieces = text.split("\n")
    return [piece + "\n" for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])


class _Parser:
    """One pass over a file: each line checked, kept as read, or refused."""

    def __init__(self, path: Path, lenient: bool) -> None:
        self.path, self.lenient = path, lenient
        self.meta: dict[str, Any] | None = None
        self.meta_line: str | None = None
        self.rows: list[dict[str, Any]] = []
        self.numbers: list[int] = []
        self.lines: list[str | None] = []
        self.changes: list[str] = []
        self.seen: dict[tuple[str, str], int] = {}

    def parse(self, text: str) -> HistoricalFile:
        blank = ""   # blank lines belong to the line after them (the last line: before)
        for number, raw in enumerate(_split(text), start=1):
            if not raw.strip(" \t\r\n"):
                blank += raw
                continue
            self._line(number, blank + raw)
            blank = ""
        if not self.rows:
            raise SweepqError(f"{self.path} has no result rows: nothing imported")
        if blank and self.lines[-1] is not None:
            self.lines[-1] += blank
        self._one_benchmark()
        return HistoricalFile(self.path, self.meta, self.rows, self.numbers, self.lines,
                              self.meta_line, self.changes)

    def _refuse(self, number: int, problem: str) -> None:
        raise SweepqError(f"{self.path}:{number}: {problem}: nothing imported")

    def _change(self, number: int, problem: str, done: str) -> None:
        """A problem: refused, or with `lenient` listed with what was done about it."""
        if not self.lenient:
            self._refuse(number, f"{problem} (pass `lenient` to import it {done})")
        self.changes.append(f"line {number}: {problem}: {done}")

    def _line(self, number: int, raw: str) -> None:
        keep: str | None = raw
        try:
            obj = _DECODER.decode(raw)
        except _DuplicateKey as exc:
            self._change(number, f"key {exc} appears twice", "the last one kept, the line "
                         "exported in sweepq's own formatting")
            obj, keep = json.loads(raw), None
        except json.JSONDecodeError as exc:
            self._refuse(number, f"not JSON ({exc.msg})")
        if not isinstance(obj, dict):
            self._refuse(number, "expected a JSON object")
        if obj.get("_meta") is True:
            if self.meta is not None or self.rows:
                self._refuse(number, "a _meta line must come first and only once")
            _check_meta(obj, self.path, number)
            self.meta, self.meta_line = obj, keep
            return
        _check_row(obj, self.path, number)
        self._add_row(number, obj, raw, keep)

    def _add_row(self, number: int, row: dict[str, Any], raw: str, keep: str | None) -> None:
        # A surrogate can only be written as an escape, "\\udXXX": a quick look first.
        for key in ("task_id", "arm", "benchmark") if "\\ud" in raw or "\\uD" in raw else ():
            if isinstance(row.get(key), str) and _SURROGATE.search(row[key]):
                self._change(number, f"{key} holds a lone surrogate, which sweepq cannot "
                             "keep in a name", "with U+FFFD in its place")
                row[key], keep = _SURROGATE.sub("\ufffd", row[key]), None
        pair = (row["task_id"], row["arm"])
        if pair in self.seen:
            self._change(number, f"a second row for ({pair[0]}, {pair[1]}) (the first is "
                         f"line {self.seen[pair]})", "left out")
            return
        self.seen[pair] = number
        if self.meta is not None and row.get("benchmark", _ABSENT) not in \
                (_ABSENT, self.meta.get("benchmark")):
            self._change(number, f"benchmark {row['benchmark']!r} is not the _meta line's "
                         f"{self.meta.get('benchmark')!r}", "exported as the _meta line's, "
                         "in sweepq's own formatting")
            keep = None
        self.rows.append(row)
        self.numbers.append(number)
        self.lines.append(keep)

    def _one_benchmark(self) -> None:
        """A file without _meta: one benchmark for the sweep, so every row must agree."""
        if self.meta is not None:
            return
        named = [(n, row["benchmark"]) for row, n in zip(self.rows, self.numbers, strict=True)
                 if "benchmark" in row]
        for number, benchmark in named:
            if benchmark != named[0][1]:
                self._change(number, f"benchmark {benchmark!r} is not line {named[0][0]}'s "
                             f"{named[0][1]!r} (a file without _meta has one benchmark)",
                             "the sweep's benchmark left empty")
                return


def _check_row(row: dict[str, Any], path: Path, number: int) -> None:
    missing = [key for key in ROW_KEYS if key not in row]
    if missing:
        raise SweepqError(f"{path}:{number}: row lacks {', '.join(missing)}: nothing imported")
    ok = (isinstance(row["task_id"], str) and isinstance(row["arm"], str)
          and isinstance(row["passed"], bool) and isinstance(row["detail"], str)
          and (row["wall_seconds"] is None or isinstance(row["wall_seconds"], int | float))
          and isinstance(row["sub_calls"], int) and not isinstance(row["sub_calls"], bool))
    if not ok:
        raise SweepqError(f"{path}:{number}: a field has the wrong type (passed must be true or "
                          "false, sub_calls an integer): nothing imported")
    try:
        bounds.count("sub_calls", row["sub_calls"], 0, bounds.MAX_SUB_CALLS)
        if row["wall_seconds"] is not None:
            bounds.duration("wall_seconds", _finite(row["wall_seconds"]), 0.0,
                            bounds.MAX_WALL_SECONDS)
    except SweepqError as exc:
        raise SweepqError(f"{path}:{number}: {exc}: nothing imported") from None


def _finite(value: float | int) -> float:
    """A number as the REAL column holds it (an integer too large for a float: infinite)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _check_meta(meta: dict[str, Any], path: Path, number: int) -> None:
    """The `_meta` fields a sweep is made of: right types and sane numbers, or a refusal."""
    def strings(value: Any) -> bool:
        return value is None or (isinstance(value, list)
                                 and all(isinstance(v, str) for v in value))
    problem = None
    if not (meta.get("benchmark") is None or isinstance(meta.get("benchmark"), str)):
        problem = "benchmark must be a string or null"
    elif not strings(meta.get("arms")) or not strings(meta.get("subtasks")):
        problem = "arms and subtasks must be lists of strings"
    elif _SURROGATE.search(json.dumps([meta.get(k) for k in ("benchmark", "arms", "subtasks")],
                                      ensure_ascii=False)):
        problem = "benchmark, arms and subtasks must not hold a lone surrogate (\\ud800-\\udfff)"
    else:
        try:
            if meta.get("n_per_subtask") is not None:
                bounds.count("n_per_subtask", meta["n_per_subtask"], 1, bounds.MAX_N_PER_SUBTASK)
            if meta.get("start") is not None:
                bounds.count("start", meta["start"], 0, bounds.MAX_N_PER_SUBTASK)
        except SweepqError as exc:
            problem = str(exc)
    if problem:
        raise SweepqError(f"{path}:{number}: _meta: {problem}: nothing imported")


def _sweep_for(name: str, meta: dict[str, Any] | None, rows: list[dict[str, Any]]) -> Sweep:
    seen_arms = list(dict.fromkeys(row["arm"] for row in rows))
    if meta is None:
        benchmarks = {row.get("benchmark") for row in rows}
        return Sweep(name=name, arms=seen_arms, benchmark=benchmarks.pop()
                     if len(benchmarks) == 1 else None, has_meta=False)
    return Sweep(name=name, arms=list(meta.get("arms") or seen_arms),
                 benchmark=meta.get("benchmark"), subtasks=list(meta.get("subtasks") or []),
                 n_per_subtask=meta.get("n_per_subtask"), start=meta.get("start") or 0)
