"""sweepq.jsonl: the historical format, byte for byte, in and out."""

from __future__ import annotations

import filecmp
import io
import json
import math
import random
from pathlib import Path

import pytest
from conftest import ECHO_RESULTS, run_cli
from hypothesis import given
from hypothesis import strategies as st

from sweepq import db, jsonl
from sweepq.atomicfile import atomic_output
from sweepq.errors import SweepqError
from sweepq.queue import Call, Queue, Result, Sweep

SHARED_FILES = sorted(ECHO_RESULTS.glob("*.jsonl"))


@pytest.fixture
def q(db_path: Path) -> Queue:
    queue = Queue(db.connect(db_path))
    yield queue
    queue.close()


def line(obj: dict) -> str:
    return json.dumps(obj) + "\n"


def export_bytes(queue: Queue, name: str, path: Path, **options) -> bytes:
    with atomic_output(str(path)) as out:
        jsonl.export(queue, queue.resolve_sweep(name), out, **options)
    return path.read_bytes()


def roundtrip(queue: Queue, source: Path, tmp_path: Path) -> bytes:
    report = jsonl.import_file(queue, source)
    return export_bytes(queue, report.sweep, tmp_path / f"{source.stem}.out.jsonl")


# -- files the tests write themselves -------------------------------------------------------------

ARMS = ["haiku-only", "sonnet-only", "echo-judge"]


def rows(n_tasks: int, *, benchmark: bool, seed: int = 7) -> list[dict]:
    """Rows cycling through awkward values (each appears), in a shuffled completion order."""
    rng = random.Random(seed)
    details = ["passed", "expected A got B", "unparseable", 'expected "(C)" got \\"B\\"',
               "expected Café got café — ünïcödé ✓ 日本語", "expected \U0001f600 got \t tab"]
    walls = [None, 0.1 + 0.2, 1e22, 123456.78901234567, 5.0, 1e-7, 0.0]
    out = []
    for i in range(n_tasks):
        for j, arm in enumerate(ARMS):
            k = i * len(ARMS) + j
            wall = walls[k] if k < len(walls) else rng.random() * 30
            row = {"task_id": f"bbh/date_understanding/{i}", "arm": arm,
                   "passed": rng.random() < 0.5, "detail": details[k % len(details)],
                   "wall_seconds": wall, "sub_calls": rng.randint(0, 4)}
            if benchmark:
                row["benchmark"] = "bbh"
            out.append(row)
    rng.shuffle(out)  # completion order is not canonical order
    return out


META = {"_meta": True, "benchmark": "bbh", "subtasks": ["date_understanding"],
        "n_per_subtask": 8, "start": 3, "arms": ARMS}


@pytest.fixture
def with_meta(tmp_path: Path) -> Path:
    path = tmp_path / "20260101T000000Z_bbh_n8.jsonl"
    path.write_text(line(META) + "".join(line(r) for r in rows(8, benchmark=True)),
                    encoding="utf-8", newline="\n")
    return path


@pytest.fixture
def without_meta(tmp_path: Path) -> Path:
    path = tmp_path / "20250101T000000Z_n8.jsonl"
    path.write_text("".join(line(r) for r in rows(8, benchmark=False, seed=3)),
                    encoding="utf-8", newline="\n")
    return path


def test_own_file_with_meta_roundtrips_byte_for_byte(q: Queue, with_meta: Path,
                                                     tmp_path: Path) -> None:
    assert roundtrip(q, with_meta, tmp_path) == with_meta.read_bytes()


def test_own_file_without_meta_or_benchmark_roundtrips(q: Queue, without_meta: Path,
                                                       tmp_path: Path) -> None:
    assert roundtrip(q, without_meta, tmp_path) == without_meta.read_bytes()
    assert q.sweep(without_meta.stem).benchmark is None


def test_the_test_data_covers_the_hard_cases(with_meta: Path) -> None:
    text = with_meta.read_text()
    walls = [json.loads(x)["wall_seconds"] for x in text.splitlines()[1:]]
    assert None in walls and 0.30000000000000004 in walls and 1e22 in walls
    assert "\\u00e9" in text and "\\ud83d\\ude00" in text and '\\"(C)\\"' in text
    assert any(w is not None and not math.isclose(w, round(w, 6)) for w in walls)


def test_cli_import_export_roundtrip(tmp_path: Path, with_meta: Path,
                                     without_meta: Path) -> None:
    database = tmp_path / "cli.db"
    for source in (with_meta, without_meta):
        run_cli("import", str(source), db=database, check=True)
        out = tmp_path / f"{source.stem}.cli.jsonl"
        run_cli("export", "--sweep", source.stem, str(out), db=database, check=True)
        assert filecmp.cmp(source, out, shallow=False)
    stdout = run_cli("export", "--sweep", with_meta.stem, "-", db=database, check=True).stdout
    assert stdout == with_meta.read_text()


def test_import_twice_adds_nothing(q: Queue, with_meta: Path, tmp_path: Path) -> None:
    first = jsonl.import_file(q, with_meta)
    assert (first.rows, first.new) == (24, 24)
    again = jsonl.import_file(q, with_meta)
    assert (again.sweep, again.rows, again.new) == (first.sweep, 24, 0)
    assert q.read("SELECT count(*) AS n FROM results")[0]["n"] == 24
    assert q.sweep_names() == [with_meta.stem]
    assert export_bytes(q, first.sweep, tmp_path / "out.jsonl") == with_meta.read_bytes()


def test_import_names_the_sweep(q: Queue, with_meta: Path) -> None:
    assert jsonl.import_file(q, with_meta, "mine").sweep == "mine"
    sweep = q.sweep("mine")
    assert (sweep.benchmark, sweep.subtasks, sweep.n_per_subtask, sweep.start, sweep.arms) == \
        ("bbh", ["date_understanding"], 8, 3, ARMS)
    assert q.counts("mine") == {"pending": 0, "running": 0, "done": 24, "error": 0}


# -- the shared files: the acceptance test ---------------------------------------------------------

@pytest.mark.parametrize("source", SHARED_FILES, ids=[p.name for p in SHARED_FILES])
def test_shared_file_roundtrips_byte_for_byte(q: Queue, source: Path, tmp_path: Path) -> None:
    assert roundtrip(q, source, tmp_path) == source.read_bytes()


def test_shared_files_roundtrip_through_the_cli(tmp_path: Path) -> None:
    assert len(SHARED_FILES) == 4, "tests/data/echo-results holds the old runner's 4 files"
    database = tmp_path / "shared.db"
    for source in SHARED_FILES:
        run_cli("import", str(source), db=database, check=True)
    for source in SHARED_FILES:
        out = tmp_path / source.name
        run_cli("export", "--sweep", source.stem, str(out), db=database, check=True)
        assert filecmp.cmp(source, out, shallow=False), source.name


# -- malformed input ------------------------------------------------------------------------------

GOOD = [line({"task_id": f"t/{i}", "arm": "a", "passed": True, "detail": "passed",
              "wall_seconds": 1.0, "sub_calls": 1}) for i in range(3)]


@pytest.mark.parametrize("bad", [
    '{"task_id": "t/9", "arm": "a", "passed": true,\n',                              # cut short
    line({"task_id": "t/9", "arm": "a", "passed": "yes", "detail": "passed",
          "wall_seconds": 1.0, "sub_calls": 1}),                                    # wrong type
    line({"task_id": "t/9", "arm": "a", "passed": True, "detail": "passed"}),       # missing keys
    "[1, 2, 3]\n",                                                                  # not an object
    line(META),                                                                     # late _meta
], ids=["truncated", "type", "missing", "array", "late-meta"])
def test_a_malformed_line_is_named_and_nothing_is_imported(q: Queue, db_path: Path,
                                                            tmp_path: Path, bad: str) -> None:
    jsonl.import_file(q, _write(tmp_path / "before.jsonl", GOOD))  # an existing sweep
    q.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = db_path.read_bytes()
    path = _write(tmp_path / "broken.jsonl", [line(META), *GOOD, bad, *GOOD])
    with pytest.raises(SweepqError) as exc:
        jsonl.import_file(q, path)
    message = str(exc.value)
    assert f"{path}:5:" in message and "nothing imported" in message and "\n" not in message
    q.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert db_path.read_bytes() == before
    assert q.sweep_names() == ["before"]


def test_cli_names_the_bad_line(tmp_path: Path) -> None:
    database = tmp_path / "cli.db"
    path = _write(tmp_path / "broken.jsonl", [*GOOD, "not json at all\n"])
    done = run_cli("import", str(path), db=database)
    assert done.returncode != 0
    assert done.stderr.startswith("sweepq: error: ") and done.stderr.count("\n") == 1
    assert f"{path}:4:" in done.stderr
    assert not database.exists()


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines), encoding="utf-8", newline="\n")
    return path


# -- export from the queue ------------------------------------------------------------------------

def finish_all(q: Queue, sweep: str, order: list[int] | None = None) -> list:
    """Claim every job, then complete them in `order` (indexes into the claims)."""
    jobs = []
    while (job := q.claim(sweep, "w")) is not None:
        jobs.append(job)
    for i in order if order is not None else range(len(jobs)):
        job = jobs[i]
        q.complete(job.job_id, "w", Result(passed=i % 2 == 0, detail=f"d{i}",
                                          wall_seconds=i / 7, sub_calls=i % 3))
    return jobs


def exported(q: Queue, name: str, **options) -> list[dict]:
    out = io.StringIO()
    jsonl.export(q, q.resolve_sweep(name), out, **options)
    return [json.loads(x) for x in out.getvalue().splitlines()]


def test_completion_order_and_canonical_order(q: Queue) -> None:
    sweep = Sweep(name="s", arms=["b-arm", "a-arm"], subtasks=["x"], n_per_subtask=3)
    q.enqueue(sweep, [(f"bbh/x/{i}", {}) for i in range(3)])
    order = [5, 0, 3, 1, 4, 2]
    jobs = finish_all(q, "s", order)
    by_completion = exported(q, "s")
    assert by_completion[0] == sweep.meta()
    assert [(r["task_id"], r["arm"]) for r in by_completion[1:]] == \
        [(jobs[i].task_id, jobs[i].arm) for i in order]
    canonical = exported(q, "s", order="canonical")
    assert [(r["task_id"], r["arm"]) for r in canonical[1:]] == \
        [(f"bbh/x/{i}", arm) for i in range(3) for arm in ("b-arm", "a-arm")]
    row = canonical[1]
    assert list(row) == ["task_id", "arm", "passed", "detail", "wall_seconds", "sub_calls",
                         "benchmark"]
    assert (row["passed"], row["detail"], row["wall_seconds"], row["sub_calls"]) == \
        (True, "d0", 0.0, 0)


def test_cli_order_canonical(tmp_path: Path, without_meta: Path) -> None:
    database = tmp_path / "cli.db"
    run_cli("import", str(without_meta), db=database, check=True)
    out = run_cli("export", "--order", "canonical", "-", db=database, check=True).stdout
    got = [(r["task_id"], r["arm"]) for r in map(json.loads, out.splitlines())]
    # Tasks by first appearance in the file, arms by first appearance: task-major, arm-minor.
    source = [json.loads(x) for x in without_meta.read_text().splitlines()]
    task_order = list(dict.fromkeys(r["task_id"] for r in source))
    arm_order = list(dict.fromkeys(r["arm"] for r in source))
    assert got == [(t, a) for t in task_order for a in arm_order]


def test_error_jobs_are_left_out_unless_asked_for(q: Queue, tmp_path: Path) -> None:
    q.enqueue(Sweep(name="s", arms=["a", "b"], subtasks=["x"], n_per_subtask=2),
              [(f"bbh/x/{i}", {}) for i in range(2)], max_attempts=1)
    jobs = [q.claim("s", "w") for _ in range(4)]
    q.record_call(Call(jobs[1].job_id, 1, 0, "haiku", "h", "Answer: A"))
    q.record_call(Call(jobs[1].job_id, 1, 1, "sonnet", "h2", None, error_class="fatal",
                       error="bad model"))
    q.fail(jobs[1].job_id, "w", "fatal: invalid model id 'claude-nope'", kind="fatal")
    for i in (3, 0, 2):
        q.complete(jobs[i].job_id, "w", Result(True, "passed", 1.5, 1))
    plain = exported(q, "s")
    assert [(r["task_id"], r["arm"]) for r in plain[1:]] == \
        [("bbh/x/1", "b"), ("bbh/x/0", "a"), ("bbh/x/1", "a")]
    with_errors = exported(q, "s", include_errors=True)
    assert with_errors[:4] == plain  # errors after the results, in completion order
    assert with_errors[4] == {"task_id": "bbh/x/0", "arm": "b", "passed": False,
                              "detail": "fatal: invalid model id 'claude-nope'",
                              "wall_seconds": None, "sub_calls": 1, "benchmark": "bbh"}
    canonical = exported(q, "s", order="canonical", include_errors=True)
    assert [(r["task_id"], r["arm"], r["passed"]) for r in canonical[1:]] == \
        [("bbh/x/0", "a", True), ("bbh/x/0", "b", False), ("bbh/x/1", "a", True),
         ("bbh/x/1", "b", True)]
    out = tmp_path / "cli.jsonl"
    q.close()
    run_cli("export", "--include-errors", str(out), db=tmp_path / "sweepq.db", check=True)
    assert [json.loads(x) for x in out.read_text().splitlines()] == with_errors


def test_export_of_no_results_is_the_meta_line(q: Queue, tmp_path: Path) -> None:
    sweep = Sweep(name="s", arms=["a"], subtasks=["x"], n_per_subtask=2)
    q.enqueue(sweep, [("bbh/x/0", {}), ("bbh/x/1", {})])
    assert export_bytes(q, "s", tmp_path / "out.jsonl") == line(sweep.meta()).encode()
    old = Sweep(name="old", arms=["a"], benchmark=None, has_meta=False)
    q.enqueue(old, [("t/0", {})])
    assert export_bytes(q, "old", tmp_path / "old.jsonl") == b""


class CountingWriter(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    def write(self, text: str) -> int:
        self.writes.append(len(text))
        return super().write(text)


def test_export_streams_a_big_sweep(q: Queue) -> None:
    n = 30_000
    sweep = Sweep(name="big", arms=["a", "b"], subtasks=["x"], n_per_subtask=n // 2)
    q.enqueue(sweep, [(f"bbh/x/{i}", {}) for i in range(n // 2)])
    with q.write() as conn:  # results straight in SQL, completion order reversed
        conn.execute("UPDATE jobs SET state = 'done', finished_at = 0 WHERE sweep = 'big'")
        conn.execute("INSERT INTO results (job_id, passed, detail, wall_seconds, sub_calls,"
                     " completed_at) SELECT job_id, position % 2, 'd' || position,"
                     " position / 3.0, position % 5, 0 FROM jobs WHERE sweep = 'big'"
                     " ORDER BY position DESC")
    out = CountingWriter()
    assert jsonl.export(q, sweep, out) == n
    batches = math.ceil(n / jsonl.EXPORT_BATCH)
    assert len(out.writes) == 1 + batches  # the meta line, then one write per batch
    assert max(out.writes) < sum(out.writes) / 2  # never the whole file at once
    parsed = [json.loads(x) for x in out.getvalue().splitlines()]
    assert len(parsed) == n + 1
    assert parsed[1]["detail"] == f"d{n - 1}" and parsed[-1]["detail"] == "d0"
    assert parsed[1]["wall_seconds"] == (n - 1) / 3.0
    canonical = CountingWriter()
    jsonl.export(q, sweep, canonical, order="canonical")
    assert [json.loads(x)["detail"] for x in canonical.getvalue().splitlines()[1:]] == \
        [f"d{i}" for i in range(n)]


def test_export_to_a_missing_folder_is_refused_before_writing(q: Queue, tmp_path: Path) -> None:
    with pytest.raises(SweepqError, match="does not exist"):
        with atomic_output(str(tmp_path / "missing" / "out.jsonl")):
            pass
    assert not (tmp_path / "missing").exists()


@given(task_id=st.text(), arm=st.text(), passed=st.booleans(), detail=st.text(),
       wall=st.none() | st.floats(allow_nan=True, allow_infinity=True),
       sub_calls=st.integers(0, 10**6), benchmark=st.none() | st.text())
def test_export_lines_are_exactly_json_dumps(task_id, arm, passed, detail, wall, sub_calls,
                                             benchmark):
    """The format-string writer must agree with json.dumps on every input, byte for byte."""
    row = {"task_id": task_id, "arm": arm, "passed": passed, "detail": detail,
           "wall_seconds": wall, "sub_calls": sub_calls}
    tail = "}\n"
    if benchmark is not None:
        row["benchmark"] = benchmark
        tail = f', "benchmark": {json.dumps(benchmark)}}}\n'
    line = jsonl._line((task_id, arm, int(passed), detail, wall, sub_calls), tail)
    assert line == json.dumps(row) + "\n"
