"""`import` is exact or refuses: what it accepts exports byte for byte, formatting and
all; what it could not give back is an error naming the line (or, with --lenient,
imported with each change listed)."""

from __future__ import annotations

import io
import json
import sqlite3
import tempfile
from pathlib import Path

import pytest
from conftest import examples, run_cli
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sweepq import db, jsonl
from sweepq.errors import SweepqError
from sweepq.queue import Queue

META = '{"_meta": true, "benchmark": "bbh", "subtasks": ["x"], "n_per_subtask": 2, ' \
    '"start": 0, "arms": ["a", "b"]}'


def row(task: str, arm: str = "a", **extra: object) -> str:
    fields = {"task_id": task, "arm": arm, "passed": True, "detail": "passed",
              "wall_seconds": 1.5, "sub_calls": 1, "benchmark": "bbh", **extra}
    return json.dumps(fields)


def export_text(queue: Queue, name: str, order: str = "completion") -> str:
    out = io.StringIO(newline="")
    jsonl.export(queue, queue.resolve_sweep(name), out, order=order)
    return out.getvalue()


def roundtrip(tmp: Path, text: str, **options: object) -> tuple[str, jsonl.ImportReport]:
    source = tmp / "f.jsonl"
    source.write_bytes(text.encode("utf-8"))
    queue = Queue(db.connect(tmp / "t.db"))
    try:
        report = jsonl.import_file(queue, source, **options)
        return export_text(queue, report.sweep), report
    finally:
        queue.close()


FORMATTED = {
    "crlf": f"{META}\r\n{row('t/0')}\r\n{row('t/1')}\r\n",
    "integer wall": META + "\n" + row("t/0").replace("1.5", "1") + "\n",
    "trailing zero": META + "\n" + row("t/0").replace("1.5", "2.50") + "\n",
    "negative zero": META + "\n" + row("t/0").replace("1.5", "-0.0") + "\n",
    "exponent": META + "\n" + row("t/0").replace("1.5", "1e-7") + "\n"
    + row("t/1").replace("1.5", "1E+2") + "\n",
    "raw utf-8": META + "\n" + json.dumps({**json.loads(row("t/0")), "detail": "café ✓ 日本"},
                                          ensure_ascii=False) + "\n",
    "escaped": META + "\n" + row("t/0", detail="caf\u00e9 \u2028") + "\n",
    "raw line separator": META + "\n" + json.dumps(
        {**json.loads(row("t/0")), "detail": "a\u2028b\x85c"}, ensure_ascii=False) + "\n",
    "compact": META + "\n" + json.dumps(json.loads(row("t/0")), separators=(",", ":")) + "\n",
    "reordered": META + "\n" + json.dumps(dict(reversed(json.loads(row("t/0")).items())))
    + "\n",
    "extra keys": META.replace("}", ', "seed": 7}') + "\n" + row("t/0", judge="haiku") + "\n",
    "no final newline": META + "\n" + row("t/0") + "\n" + row("t/1"),
    "blank lines": "\n" + META + "\n\n" + row("t/0") + "\n  \n" + row("t/1") + "\n\n",
    "no benchmark key": META + "\n" + row("t/0").replace(', "benchmark": "bbh"', "") + "\n",
    "no _meta": row("t/0") + "\n" + row("t/1", "b") + "\n",
    "spaces": META + "\n  " + row("t/0").replace(": ", " :  ") + "  \n",
}


@pytest.mark.parametrize("text", FORMATTED.values(), ids=FORMATTED.keys())
def test_formatting_survives_import_then_export(tmp_path: Path, text: str) -> None:
    exported, report = roundtrip(tmp_path, text)
    assert exported == text
    assert report.changes == []


def test_the_cli_writes_the_file_back_with_its_crlf(tmp_path: Path) -> None:
    source = tmp_path / "crlf.jsonl"
    source.write_bytes(FORMATTED["crlf"].encode())
    database, out = tmp_path / "cli.db", tmp_path / "out.jsonl"
    run_cli("import", str(source), db=database, check=True)
    run_cli("export", "--sweep", "crlf", str(out), db=database, check=True)
    assert out.read_bytes() == source.read_bytes()


def test_an_unterminated_last_line_gets_a_line_end_when_others_follow(tmp_path: Path) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text(META + "\n" + row("t/0"), newline="")           # no line end
    second.write_text(META + "\n" + row("t/1") + "\n", newline="")
    queue = Queue(db.connect(tmp_path / "t.db"))
    jsonl.import_file(queue, first, "s")
    assert export_text(queue, "s") == first.read_text()
    jsonl.import_file(queue, second, "s")   # the same sweep: its rows come after
    both = META + "\n" + row("t/0") + "\n" + row("t/1") + "\n"
    assert export_text(queue, "s") == export_text(queue, "s", "canonical") == both
    queue.close()


REFUSED = {
    "duplicate row": (META + "\n" + row("t/0") + "\n" + row("t/1") + "\n"
                      + row("t/0", detail="other") + "\n", 4, "a second row for (t/0, a)"),
    "benchmark differs": (META + "\n" + row("t/0") + "\n" + row("t/1", benchmark="mmlu")
                          + "\n", 3, "benchmark 'mmlu' is not the _meta line's 'bbh'"),
    "benchmarks differ without _meta": (row("t/0") + "\n" + row("t/1", benchmark="mmlu")
                                        + "\n", 2, "benchmark 'mmlu' is not line 1's 'bbh'"),
    "a key twice": (META + "\n" + row("t/0")[:-1] + ', "detail": "again"}\n', 2,
                    "key detail appears twice"),
    "surrogate in a name": (META + "\n" + row("t/\ud800") + "\n", 2, "lone surrogate"),
}


@pytest.mark.parametrize("text,number,problem", REFUSED.values(), ids=REFUSED.keys())
def test_what_it_cannot_keep_is_refused_naming_the_line(tmp_path: Path, text: str,
                                                        number: int, problem: str) -> None:
    database = tmp_path / "cli.db"
    run_cli("import", "--sweep", "before", _write(tmp_path / "ok.jsonl", FORMATTED["crlf"]),
            db=database, check=True)
    before = _dump(database)
    source = _write(tmp_path / "bad.jsonl", text)
    done = run_cli("import", source, db=database)
    assert done.returncode != 0
    assert done.stderr.startswith(f"sweepq: error: {source}:{number}: ") and \
        done.stderr.count("\n") == 1, done.stderr
    assert problem in done.stderr and "nothing imported" in done.stderr
    assert "--lenient" in done.stderr
    assert _dump(database) == before


@pytest.mark.parametrize("text,number,problem", REFUSED.values(), ids=REFUSED.keys())
def test_lenient_imports_and_lists_each_change(tmp_path: Path, text: str, number: int,
                                               problem: str) -> None:
    source = _write(tmp_path / "bad.jsonl", text)
    done = run_cli("import", "--lenient", source, db=tmp_path / "cli.db", check=True)
    changed = [x for x in done.stdout.splitlines() if x.startswith("changed: ")]
    assert len(changed) == 1 and changed[0].startswith(f"changed: line {number}: ")
    assert problem in changed[0]
    exported = run_cli("export", "-", db=tmp_path / "cli.db", check=True).stdout
    assert all(json.loads(x) for x in exported.splitlines())


def test_lenient_keeps_the_first_of_two_rows_and_the_meta_benchmark(tmp_path: Path) -> None:
    text = (META + "\n" + row("t/0") + "\n" + row("t/1", benchmark="mmlu", judge="j") + "\n"
            + row("t/0", detail="second") + "\n")
    exported, report = roundtrip(tmp_path, text, lenient=True)
    assert [c.split(":")[0] for c in report.changes] == ["line 3", "line 4"]
    assert exported == META + "\n" + row("t/0") + "\n" + row("t/1") + "\n"


def test_a_row_the_sweep_has_with_another_result_is_refused(tmp_path: Path) -> None:
    first = _write(tmp_path / "s.jsonl", META + "\n" + row("t/0") + "\n")
    database = tmp_path / "cli.db"
    run_cli("import", first, db=database, check=True)
    again = run_cli("import", first, db=database, check=True)    # the same file: nothing new
    assert "0 new results of 1 rows" in again.stdout
    before = _dump(database)
    other = _write(tmp_path / "other" / "s.jsonl",
                   META + "\n" + row("t/1") + "\n" + row("t/0", passed=False) + "\n")
    done = run_cli("import", other, db=database)
    assert done.returncode != 0 and f"{other}:3: (t/0, a) is already in sweep s" in done.stderr
    assert _dump(database) == before
    lenient = run_cli("import", "--lenient", other, db=database, check=True)
    assert "changed: line 3: (t/0, a) is already in sweep s, without this result: kept" \
        in lenient.stdout


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return str(path)


def _dump(database: Path) -> list[str]:
    with sqlite3.connect(database) as conn:
        return list(conn.iterdump())


# -- the property: import then export is the identity, or a refusal -------------------------------

NUMBERS = st.sampled_from(["1", "0", "1.0", "2.50", "-0.0", "0.0", "1e-7", "1E-7", "1e+22",
                           "0.30000000000000004", "123456.78901234567", "5", "null", "3.0e2",
                           "12345678901234567890123", "0.000", "-0"])
TEXTS = st.text(st.characters(exclude_categories=["Cs"]) | st.sampled_from(
    ["\\", '"', "\u2028", "\x85", "\r", "é", "\U0001f600"]), max_size=12)
# One of these in a file makes it one sweepq must refuse.
BROKEN = [("wall_seconds", "-1"), ("wall_seconds", "1e400"), ("wall_seconds", "NaN"),
          ("sub_calls", "1.0"), ("sub_calls", "-1"), ("passed", "1"),
          ("duplicate", ""), ("task_id", '"t/\\udc00"'), ("detail", '"a", "detail": "b"')]


@st.composite
def files(draw: st.DrawFn) -> tuple[str, bool]:
    """A result file as people and old tools wrote them: any number spelling, key order,
    escaping, spacing and line end; one in five has one thing sweepq must refuse (the
    second of the pair returned says so)."""
    end = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [META] if draw(st.booleans()) else []
    pairs = draw(st.lists(st.tuples(st.sampled_from(["t/0", "t/1", "t/2", "t/3"]),
                                    st.sampled_from("ab")), min_size=1, max_size=6,
                          unique=True))
    broken = draw(st.sampled_from(BROKEN)) if draw(st.integers(0, 4)) == 0 else None
    if broken is not None and broken[0] == "duplicate":
        pairs.append(pairs[0])
    for i, (task, arm) in enumerate(pairs):
        fields = {"task_id": json.dumps(task), "arm": json.dumps(arm),
                  "passed": draw(st.sampled_from(["true", "false"])),
                  "detail": json.dumps(draw(TEXTS), ensure_ascii=draw(st.booleans())),
                  "wall_seconds": draw(NUMBERS), "sub_calls": str(draw(st.integers(0, 9)))}
        if draw(st.booleans()):
            fields["benchmark"] = '"bbh"'
        if draw(st.booleans()):
            fields["judge"] = draw(NUMBERS)
        if broken is not None and i == len(pairs) - 1 and broken[0] != "duplicate":
            fields[broken[0]] = broken[1]
        order = list(fields.items())
        if draw(st.booleans()):
            order = draw(st.permutations(order))
        colon, comma = draw(st.sampled_from([(": ", ", "), (":", ","), (" : ", " ,  ")]))
        lines.append("{" + comma.join(json.dumps(k) + colon + v for k, v in order) + "}")
    text = end.join(lines)
    return (text + end if draw(st.booleans()) else text), broken is not None


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files())
def test_import_then_export_is_the_identity_or_a_refusal(file: tuple[str, bool]) -> None:
    text, broken = file
    with tempfile.TemporaryDirectory() as tmp:
        try:
            exported, report = roundtrip(Path(tmp), text)
        except SweepqError as exc:
            assert broken, exc
            assert "nothing imported" in str(exc) and "\n" not in str(exc)
            event("refused")
            return
        assert not broken
        assert exported == text and report.changes == []
        event("identity")
