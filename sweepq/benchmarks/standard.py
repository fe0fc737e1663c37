"""The published benchmarks sweepq ships: BBH, MMLU-Pro and HumanEval.

Each wraps its loader module (`bbh`, `mmlu_pro`, `humaneval`) in the `Benchmark`
protocol; the loaders keep the facts (ids, order, refusals), this module only says how a
sweep selects, renders and scores them.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .. import bbh, bbh_answers, mmlu_pro, prompts, templates
from ..errors import SweepqError
from ..task import Task
from .protocol import ALL, Base, Scorer, Selection

NO_SUBTASKS = "no subtasks given: pass `subtasks` a,b (or all)"


class BBH(Base):
    """BIG-Bench Hard, as sweepq has always enqueued it."""

    name = "bbh"

    def groups(self, names: Sequence[str], options: Mapping[str, Any]) -> list[str]:
        found = bbh.expand_subtasks(list(names))
        if not found:
            raise SweepqError(NO_SUBTASKS)
        return found

    def load(self, selection: Selection) -> list[Task]:
        if selection.n is None:
            raise SweepqError("BBH needs `n_per_subtask` N (tasks per subtask)",
                              "n_per_subtask")
        return bbh.load_tasks(list(selection.groups), selection.n, selection.start,
                              selection.dataset)


class MMLUPro(Base):
    """TIGER-Lab/MMLU-Pro: categories as the selection, ten-option questions."""

    name = mmlu_pro.BENCHMARK
    options = {"split": "test or validation (default test)"}
    group_label = "category"

    def groups(self, names: Sequence[str], options: Mapping[str, Any]) -> list[str]:
        if not names:
            raise SweepqError("no categories given: pass `subtasks` a,b (MMLU-Pro "
                              "categories, e.g. math,law) or all")
        return [mmlu_pro.category_slug(c) for c in mmlu_pro.select_categories(list(names))]

    def load(self, selection: Selection) -> list[Task]:
        questions = mmlu_pro.load(list(selection.groups),
                                  split=str(selection.options.get("split", "test")),
                                  dataset=selection.dataset, n_per_category=selection.n,
                                  start=selection.start)
        return [as_task(q) for q in questions]

    def score(self, output: str, task: Task, scorer: Scorer, builtin: bool
              ) -> tuple[bool, str]:
        if builtin and scorer is bbh_answers.score:   # sweepq's rules: with the team's extra forms
            return mmlu_pro.score(output, question_of(task))
        return scorer(output, task)


def as_task(q: mmlu_pro.Question) -> Task:
    """An MMLU-Pro question as a multiple-choice task grouped by its category's slug."""
    return Task(task_id=q.task_id, subtask=mmlu_pro.category_slug(q.category),
                index=q.question_id, question=q.question, choices=q.choices, target=q.gold,
                answer=q.gold, prompt="",
                extra={"benchmark": mmlu_pro.BENCHMARK, "category": q.category,
                       "question_id": q.question_id, "src": q.src})


def question_of(task: Task) -> mmlu_pro.Question:
    return mmlu_pro.Question(task_id=task.task_id, category=str(task.extra["category"]),
                             question_id=int(task.extra["question_id"]),
                             question=task.question,
                             options=tuple(text for _, text in task.choices),
                             gold=task.answer, src=str(task.extra.get("src") or ""))


def code_prompt_stub(text: str) -> str | None:
    """The function stub of a HumanEval prompt made by its built-in template
    (`prompt_sets/groups/humaneval.toml`), alone or at the end of a framed message (a
    set's inline transport puts the persona before it); None for any other text (the
    fake API asks, to answer with code)."""
    match = _code_shape().search(text.strip())
    return None if match is None else match["question"]


@functools.cache
def _code_shape() -> re.Pattern[str]:
    template = prompts.group_texts(HumanEval.name)["free_form"]
    return templates.pattern(template, re.S, question=".*", raw_question=".*", hint=".*")


class HumanEval(Base):
    """OpenAI's HumanEval: one group, scored by running the code in the sandbox.

    Asked as the team's runner asked it: its texts (the task prompt, personas a and b)
    are the group's built-in ones, `prompt_sets/groups/humaneval.toml`, which a set
    replaces with its own `[task.subtasks.humaneval]` fields (`prompts.group_texts`)."""

    name = "humaneval"
    options = {"timeout": "seconds each program may run in the sandbox (default 10)"}
    group_label = "group"   # no grouping: one group, the whole benchmark

    def groups(self, names: Sequence[str], options: Mapping[str, Any]) -> list[str]:
        if [n for n in names if n not in (ALL, self.name)]:
            raise SweepqError("HumanEval has no subtasks: leave out `subtasks` (or pass "
                              "all); `start` and `n_per_subtask` slice its 164 problems")
        timeout = options.get("timeout")
        if timeout is not None:
            _timeout(timeout)
        return [self.name]

    def load(self, selection: Selection) -> list[Task]:
        from .. import humaneval

        extra = {"benchmark": self.name}
        if "timeout" in selection.options:
            extra["timeout"] = _timeout(selection.options["timeout"])
        return [Task(task_id=p.task_id, subtask=self.name, index=p.number, question=p.prompt,
                     choices=(), target=p.canonical_solution, answer=p.canonical_solution,
                     prompt="", extra={**extra, "entry_point": p.entry_point, "test": p.test})
                for p in humaneval.load(selection.dataset, start=selection.start,
                                        n=selection.n)]

    def score(self, output: str, task: Task, scorer: Scorer, builtin: bool
              ) -> tuple[bool, str]:
        """Run the code (any built-in scorer: a program's verdict is its tests'); a custom
        scorer is the sweep's choice. `sandbox.SandboxError` propagates: it is the
        machine's failure, never the answer's."""
        if not builtin:
            return scorer(output, task)
        return run_code(output, task)


def run_code(output: str, task: Task) -> tuple[bool, str]:
    """The team's verdict for a HumanEval reply, from a sandboxed run of its code."""
    from .. import humaneval, sandbox

    problem = humaneval.Problem(task_id=task.task_id, prompt=task.question,
                                entry_point=str(task.extra["entry_point"]),
                                test=str(task.extra["test"]), canonical_solution=task.answer)
    limits = sandbox.Limits(timeout=float(task.extra.get("timeout") or sandbox.TIMEOUT_S))
    outcome = humaneval.run(output, problem, limits)
    note = "" if outcome.network_isolated else " (network not isolated on this machine)"
    return outcome.passed, outcome.detail + note


def _timeout(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not 0.1 <= seconds <= 600:
        raise SweepqError(f"timeout must be seconds from 0.1 to 600 (got {value!r})",
                          "timeout")
    return seconds
