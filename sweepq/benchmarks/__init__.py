"""Benchmarks as plug-ins: what a sweep's tasks are, how they are asked and how scored.

Why: arms and scorers were plug-ins but the tasks were BBH's alone; a researcher runs
MMLU-Pro, HumanEval and in-house question banks through the same queue. Everything
after `enqueue` stays benchmark-blind: a task is a `task.Task` whose `extra` names its
benchmark and carries what that benchmark's renderer and scorer read.

The protocol (`Benchmark`), for built-ins and custom ones alike:

- `name`: stored in the sweep and written as `benchmark` in exported rows (`mmlu_pro`);
  the registry also finds it by its entry point's name (`mmlu-pro`);
- `options`: the benchmark's own `enqueue` options (name -> one line of help); any other
  is refused, naming the benchmark (`split` means nothing to HumanEval);
- `groups(names, options)`: the selection (subtasks, categories) in order, `all` for
  every one, or a one-line error;
- `load(selection)`: the `Task`s, each with a stable `task_id`, payload fields, the gold
  `answer` and `extra["benchmark"]` = `name`;
- `render(task, prompts)`: the task prompt from the sweep's prompt set;
- `score(output, task, scorer, builtin)`: the verdict; `scorer` is the sweep's, `builtin`
  says it is one of sweepq's own (which a benchmark may answer with its own rules);
- `group_label` (optional, default "subtask"): the benchmark's word for its groups,
  the column `summary --by` shows (MMLU-Pro: "category"); `group_label_for(options)`
  when the word depends on the sweep (a field map's `subtask=COLUMN`: the column).

`Base` gives the usual defaults (the set's multiple-choice / free-form templates, the
sweep's scorer). Register a benchmark under the entry point group `sweepq.benchmarks`
(`[project.entry-points."sweepq.benchmarks"] mine = "mypkg.bench:MINE"`: an object or a
class taking no arguments), as sweepq's own are in its pyproject.toml.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ..errors import SweepqError
from ..prompts import PromptSet
from ..task import Task
from .protocol import ALL, DEFAULT, ENTRY_POINT_GROUP, Base, Benchmark, Scorer, Selection

__all__ = ["ALL", "DEFAULT", "ENTRY_POINT_GROUP", "GROUP_LABEL", "Base", "Benchmark", "Scorer",
           "Selection", "check_options", "get", "group_label_of", "of", "registry", "render",
           "score"]
GROUP_LABEL = "subtask"   # the word for groups when a benchmark gives none


def _builtins() -> dict[str, Any]:
    from . import fieldmap, standard

    return {"bbh": standard.BBH(), "mmlu-pro": standard.MMLUPro(),
            "humaneval": standard.HumanEval(), **fieldmap.BUILTIN}


@functools.cache
def registry() -> dict[str, Benchmark]:
    """Built-ins, then entry points of `sweepq.benchmarks` (one with a built-in's name
    replaces it). Loaded once per process."""
    from importlib.metadata import entry_points

    found = _builtins()
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        obj = entry.load()
        found[entry.name] = obj() if isinstance(obj, type) else obj
    return found


def get(name: str) -> Benchmark:
    """The benchmark registered as `name`, or whose stored `name` it is (`mmlu_pro`)."""
    known = registry()
    if name in known:
        return known[name]
    for bench in known.values():
        if bench.name == name:
            return bench
    raise SweepqError(f"unknown benchmark {name!r}: known benchmarks are "
                      f"{', '.join(sorted(known))} (custom ones register under the entry "
                      f"point group {ENTRY_POINT_GROUP})", "benchmark")


def group_label_of(name: str | None, options: Mapping[str, Any] | None = None) -> str:
    """What the sweep's benchmark calls its groups; "subtask" for one unknown here (an
    import of another tool's file, a plug-in no longer installed) or that names none.
    Never raises: a report must render whatever the sweep's benchmark."""
    try:
        bench: Any = get(name or DEFAULT)
    except SweepqError:
        return GROUP_LABEL
    own = getattr(bench, "group_label_for", None)
    label = own(dict(options or {})) if callable(own) else getattr(bench, "group_label", None)
    return label.strip() if isinstance(label, str) and label.strip() else GROUP_LABEL


def check_options(bench: Benchmark, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options given (None values dropped), or a refusal naming one `bench` does not
    take and the ones it does."""
    given = {k: v for k, v in options.items() if v not in (None, (), {}, [])}
    for key in given:
        if key not in bench.options:
            takes = ", ".join(f"`{o}`" for o in bench.options) or "none"
            raise SweepqError(f"`{key}` does not apply to benchmark {bench.name} (its "
                              f"options: {takes})", key)
    return given


def of(task: Task) -> str:
    """The benchmark a task belongs to (BBH's payloads never named it)."""
    return str(task.extra.get("benchmark") or DEFAULT)


def render(task: Task, prompts: PromptSet) -> str:
    """The task prompt a sweep sends, by the task's benchmark, from `prompts`."""
    name = of(task)
    if name == DEFAULT:  # the common case without the registry's entry-point scan
        return Base.render(Base(), task, prompts)
    return get(name).render(task, prompts)


def score(output: str, task: Task, scorer: Scorer, builtin: bool) -> tuple[bool, str]:
    """The verdict by the task's benchmark and the sweep's scorer."""
    name = of(task)
    if name == DEFAULT:
        return scorer(output, task)
    return get(name).score(output, task, scorer, builtin)
