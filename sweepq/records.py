"""The queue's records: a sweep, a claimed job, a result, a pause, a journaled call.

Plain frozen values that `queue.Queue` reads and writes; nothing here touches
the database. (`sweepq.queue` exports them too, where callers have always
found them.)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from . import bounds
from .errors import SweepqError
from .prompts import DEFAULT_NAME, PromptSet, default_set
from .usage import Usage


@dataclass(frozen=True)
class Sweep:
    """A named experiment. Its fields are those of the historical `_meta` line."""

    name: str
    arms: list[str]
    benchmark: str | None = "bbh"
    subtasks: list[str] = field(default_factory=list)
    n_per_subtask: int | None = None
    start: int = 0
    models: dict[str, str] = field(default_factory=dict)
    dataset: str | None = None
    has_meta: bool = True
    # The named scorer every job of the sweep scores with (`scorers`); not in `_meta`.
    scorer: str = "sweepq"
    # The benchmark's own options (`benchmarks`: MMLU-Pro's split, a field map); not in
    # `_meta`.
    options: dict[str, Any] = field(default_factory=dict)
    # Prompt sets by name (`default` for arms without `@SET`); empty: the built-in default
    # set (an import, or a sweep stored before prompt sets). Compared apart from settings().
    prompts: dict[str, PromptSet] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        # Checked here, once, for every way a sweep is made: enqueue, import, the database.
        if self.n_per_subtask is not None:
            bounds.count("n_per_subtask", self.n_per_subtask, 1,
                         bounds.MAX_N_PER_SUBTASK)
        bounds.count("start", self.start, 0, bounds.MAX_N_PER_SUBTASK)

    def meta(self) -> dict[str, Any]:
        """The historical `_meta` line, keys in their historical order."""
        return {"_meta": True, "benchmark": self.benchmark, "subtasks": self.subtasks,
                "n_per_subtask": self.n_per_subtask, "start": self.start, "arms": self.arms}

    def prompt_digests(self) -> dict[str, str]:
        """Set name -> sha256 of its content; what a second enqueue must match."""
        sets = self.prompts or {DEFAULT_NAME: default_set()}
        return {name: ps.sha256 for name, ps in sorted(sets.items())}

    def settings(self) -> tuple:
        """What must match for a second enqueue to be the same sweep."""
        return (self.benchmark, self.subtasks, self.n_per_subtask, self.start, self.arms,
                self.models, self.dataset, self.scorer, self.options)


@dataclass(frozen=True)
class Job:
    job_id: int
    sweep: str
    task_id: str
    arm: str
    task: dict[str, Any]
    attempts: int
    max_attempts: int
    lease_owner: str
    # What makes the row unrunnable, read at the edge (a payload that is not a JSON
    # object, counts out of range): the worker quarantines it instead of running it.
    defect: str | None = None


@dataclass(frozen=True)
class Result:
    """What a done job produced; the first four fields are the historical row.

    `usage` and `models` are None for a result with no record of its calls (an
    imported historical row): their columns are then NULL.
    """

    passed: bool
    detail: str
    wall_seconds: float | None
    sub_calls: int
    output: str | None = None
    usage: Usage | None = None
    models: list[str] | None = None


@dataclass(frozen=True)
class Pause:
    pause_id: int
    resume_at: float | None
    reason: str
    message: str | None
    set_by: str
    scope: str | None = None    # None: queue-wide; else the provider (or model) that ran out


@dataclass(frozen=True)
class Call:
    """One journaled model call."""

    job_id: int
    attempt: int
    call_index: int
    model: str
    request_hash: str
    response_text: str | None
    usage: Usage | None = None          # None for a failed call
    latency_seconds: float | None = None
    error_class: str | None = None
    error: str | None = None
    stop_reason: str | None = None      # why the model stopped: end_turn, max_tokens, refusal


# Sweep names: one line of these characters, so a name is safe in a one-line message, a
# file name (`import`'s default is the file's stem) and a shell word.
SWEEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=@,:-]{0,127}")


def check_sweep_name(name: str) -> str:
    """The name, or a one-line refusal naming the characters a sweep name may hold."""
    if not isinstance(name, str) or SWEEP_NAME.fullmatch(name) is None:
        shown = name if isinstance(name, str) else type(name).__name__
        raise SweepqError(f"sweep name {shown!r} is not one: use 1 to 128 letters, digits "
                          "and . _ + = @ , : - (starting with a letter or digit)", "sweep")
    return name


def sweep_from_row(row: dict[str, Any], prompts: dict[str, PromptSet] | None = None) -> Sweep:
    """A `sweeps` row (and its stored prompt sets) as a `Sweep`."""
    return Sweep(name=row["sweep"], arms=json.loads(row["arms"]), benchmark=row["benchmark"],
                 subtasks=json.loads(row["subtasks"]), n_per_subtask=row["n_per_subtask"],
                 start=row["start"], models=json.loads(row["models"]), dataset=row["dataset"],
                 has_meta=bool(row["has_meta"]), scorer=row.get("scorer") or "sweepq",
                 options=json.loads(row.get("benchmark_options") or "{}"),
                 prompts=prompts or {})
