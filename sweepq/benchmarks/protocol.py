"""What a benchmark is (`Benchmark`, `Selection`, the `Base` defaults): the protocol the
registry in `sweepq.benchmarks` serves and its plug-ins (`standard`, `fieldmap`) build on,
in a module of its own so that the plug-ins import it, not the registry that imports them
(no import circle)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..prompts import PromptSet
from ..task import Task

ENTRY_POINT_GROUP = "sweepq.benchmarks"
DEFAULT = "bbh"
ALL = "all"
Scorer = Callable[[str, Any], tuple[bool, str]]


@dataclass(frozen=True)
class Selection:
    """What a sweep asks of its benchmark: groups in order, n per group from `start`
    (None: all), the data (None: the benchmark's default source) and its own options."""

    groups: tuple[str, ...]
    n: int | None
    start: int = 0
    dataset: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


class Benchmark(Protocol):
    name: str
    options: Mapping[str, str]
    # What the benchmark calls its groups (`summary --by`'s column): optional for a
    # plug-in, "subtask" when it has none (`group_label_of`).
    group_label: str

    def groups(self, names: Sequence[str], options: Mapping[str, Any]) -> list[str]: ...

    def load(self, selection: Selection) -> list[Task]: ...

    def render(self, task: Task, prompts: PromptSet) -> str: ...

    def score(self, output: str, task: Task, scorer: Scorer, builtin: bool
              ) -> tuple[bool, str]: ...


class Base:
    """Defaults for a benchmark: the set's templates, the sweep's scorer, no options."""

    name = "base"
    options: Mapping[str, str] = {}
    group_label = "subtask"

    def group_label_for(self, options: Mapping[str, Any]) -> str:
        """The word for this sweep's groups; a benchmark whose groups come from the
        sweep's options (a field map's column) overrides it."""
        return self.group_label

    def render(self, task: Task, prompts: PromptSet) -> str:
        return prompts.task_prompt(task.subtask, task.question, task.choices,
                                   task.raw_question)

    def score(self, output: str, task: Task, scorer: Scorer, builtin: bool
              ) -> tuple[bool, str]:
        return scorer(output, task)
