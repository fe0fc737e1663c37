"""The echo judge a task is asked with, and its question read back (the fake API).

A set's `[judge]` asks whether two replies to the task prompt agree. A subtask may have
a judge of its own, field by field (`[task.subtasks.NAME] judge_*`, else the group's
built-in one: HumanEval's code judge, `prompt_sets/groups/humaneval.toml`). On a code
task (one with an `entry_point`) the question's {question} is the problem's stub and
{a}, {b} are each reply's code (`codeextract.reply_code`), as the team's runner asked
its code judge; on any other task they are the task prompt and the two replies whole.

Why its own module: `arms` asks the judge and `fake` answers it; both need the same
choice of texts and the same filling, and neither is the prompt set itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from . import codeextract, templates
from .prompt_schema import rule
from .prompts import PromptSet, builtin, builtin_names
from .task import Task

GROUPS = ("humaneval",)   # the groups with built-in texts (prompt_sets/groups/)


@dataclass(frozen=True)
class Judge:
    """One judge's texts: `[judge]`'s fields, the subtask's own where it has them."""

    system: str
    question: str
    agreement: str
    agree: str
    disagree: str

    @classmethod
    def of(cls, prompts: PromptSet, subtask: str) -> Judge:
        return cls(**prompts.judge_for(subtask))

    def prompt(self, task: Task, a: str, b: str) -> str:
        """The question about replies `a` and `b` to `task` (see the module docstring)."""
        entry_point = task.extra.get("entry_point")
        if not entry_point:
            return self.question.format(question=task.prompt, a=a, b=b)
        stub, name = task.question, str(entry_point)
        return self.question.format(question=stub, a=codeextract.reply_code(a, stub, name),
                                    b=codeextract.reply_code(b, stub, name))

    def agrees(self, verdict: str) -> bool:
        """Whether the verdict is agreement, by this judge's rule."""
        return rule(self.agreement)(verdict)

    def read(self, prompt: str) -> tuple[str, str, str] | None:
        """(question, a, b) of a prompt this judge's question built; else None."""
        shape = templates.pattern(self.question, re.S, question=".*?", a=".*?", b=".*?")
        match = shape.fullmatch(prompt)
        return None if match is None else (match["question"], match["a"], match["b"])


def subtask_judges(sets: Iterable[PromptSet] = ()) -> list[Judge]:
    """The judges of their own that `sets` and the shipped sets give a subtask or a
    group, distinct, each unlike its set's `[judge]`: what the fake API must recognise
    besides the sets' judges."""
    found = dict.fromkeys(_builtin_judges())
    for prompts in sets:
        found.update(dict.fromkeys(_own_judges(prompts)))
    return list(found)


@functools.cache
def _builtin_judges() -> tuple[Judge, ...]:
    return tuple(j for name in builtin_names() for j in _own_judges(builtin(name)))


def _own_judges(prompts: PromptSet) -> list[Judge]:
    plain = Judge(**prompts.data["judge"])
    subtasks = (*GROUPS, *prompts.data["task"].get("subtasks", {}))
    return [j for j in (Judge.of(prompts, s) for s in subtasks) if j != plain]


def read(prompt: str, sets: Iterable[PromptSet] = ()) -> tuple[Judge, str, str, str] | None:
    """(judge, question, a, b) when `prompt` is a question of a subtask's own judge."""
    for judge in subtask_judges(sets):
        got = judge.read(prompt)
        if got is not None:
            return (judge, *got)
    return None

