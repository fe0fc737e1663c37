"""The task a job carries: one benchmark item, self-contained, stored as its payload.

Every benchmark builds these (BBH in `bbh`, the others in `benchmarks/`), so a worker,
an arm or a scorer needs nothing but the job's row: no dataset, no benchmark code. A
module of its own because the arms, the runners, the scorers and every benchmark import
it, and need none of BBH's loading or answer reading.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .stats import UNPARSEABLE


@dataclass(frozen=True)
class Task:
    """One item, self-contained: everything a worker or scorer needs."""

    task_id: str
    subtask: str
    index: int
    question: str
    choices: tuple[tuple[str, str], ...]
    target: str
    answer: str
    prompt: str
    # The input as the data gave it, its own `Options:` block included ({raw_question});
    # "" for a payload stored before it was kept: the question then stands in.
    raw_question: str = ""
    # What another benchmark adds (`sweepq.benchmarks`): its name under `benchmark`, and
    # what its renderer and scorer read (a HumanEval problem's test). Stored flat in the
    # payload beside the fields above; empty for BBH, whose payloads stay as they were.
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def payload(self) -> dict[str, Any]:
        """A JSON-able dict (choices as lists) for the jobs table."""
        d = asdict(self)
        d["choices"] = [list(c) for c in self.choices]
        return {**d.pop("extra"), **d}

    @classmethod
    def from_payload(cls, d: dict[str, Any]) -> Task:
        """Inverse of `payload()`; accepts the lists JSON turns tuples into."""
        return cls(
            task_id=str(d["task_id"]),
            subtask=str(d["subtask"]),
            index=int(d["index"]),
            question=str(d["question"]),
            choices=tuple((str(lab), str(txt)) for lab, txt in d["choices"]),
            target=str(d["target"]),
            answer=str(d["answer"]),
            prompt=str(d["prompt"]),
            raw_question=str(d.get("raw_question") or d["question"]),
            extra={k: v for k, v in d.items() if k not in _FIELDS},
        )


_FIELDS = frozenset(f.name for f in fields(Task))


def as_task(task: Task | dict[str, Any]) -> Task:
    """A scorer's task argument as a `Task`: scorers take a payload dict as well."""
    return task if isinstance(task, Task) else Task.from_payload(task)


def verdict(got: str | None, task: Task) -> tuple[bool, str]:
    """(passed, detail) for the answer `got` read from a reply (None: none could be read),
    detail in the historical files' words: "passed", "expected X got Y" or "unparseable"."""
    if got is None:
        return False, UNPARSEABLE
    if got == task.answer:
        return True, "passed"
    return False, f"expected {task.answer} got {got}"
