"""Scorers as data: a sweep names the scorer its verdicts come from.

Why: two sweeps' pass rates are comparable only when the same rules read the replies,
so the rules are chosen at enqueue (`--scorer NAME`), stored in the sweep, and used by
every job, retry and resume; `sweepq rescore` applies another one to the stored replies.

A scorer is a function `scorer(output, task) -> (passed, detail)`, `detail` being
"passed", "expected X got Y" or "unparseable" (the historical files' words). Built in:
`sweepq` (`bbh_answers.score`) and `echo` (`score_echo.score`, the old runner's rules). Custom
ones are registered under the entry point group `sweepq.scorers`
(`[project.entry-points."sweepq.scorers"] mine = "mypkg.scoring:score"`); one with a
built-in's name replaces the built-in.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from . import bbh_answers, score_echo
from .errors import SweepqError

Scorer = Callable[[str, Any], tuple[bool, str]]
DEFAULT = "sweepq"
ENTRY_POINT_GROUP = "sweepq.scorers"
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
BUILTIN: dict[str, Scorer] = {"sweepq": bbh_answers.score, "echo": score_echo.score}


@functools.cache
def registry() -> dict[str, Scorer]:
    """Built-in scorers, then those of entry point group `sweepq.scorers` (loaded once)."""
    from importlib.metadata import entry_points

    found = dict(BUILTIN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found[entry.name] = entry.load()
    return found


def get(name: str) -> Scorer:
    """The scorer called `name`, or a one-line error naming the known ones."""
    known = registry()
    if name not in known:
        raise SweepqError(f"unknown scorer {name!r}: known scorers are "
                          f"{', '.join(sorted(known))} (custom ones register under the "
                          f"entry point group {ENTRY_POINT_GROUP})", "scorer")
    return known[name]


def run(scorer: Scorer, output: str, task: Any) -> tuple[bool, str]:
    """A verdict, by the task's benchmark (`benchmarks.score`: HumanEval runs the code);
    a scorer that raises gives a failed result naming the error, as the old runner did (a
    scorer bug must not stop a sweep or pass as a crash of the arm). A `SandboxError`
    propagates: the machine failed, not the answer."""
    from .sandbox import SandboxError

    try:
        passed, detail = _score(scorer, output, task)
    except SandboxError:
        raise
    except Exception as exc:
        return False, f"scorer {type(exc).__name__}: {exc}"[:500]
    return bool(passed), str(detail)


def _score(scorer: Scorer, output: str, task: Any) -> tuple[bool, str]:
    extra = getattr(task, "extra", None)
    if not extra or extra.get("benchmark") in (None, "bbh"):
        return scorer(output, task)
    from . import benchmarks

    return benchmarks.score(output, task, scorer, scorer in BUILTIN.values())


def judging(scorer: Scorer) -> Scorer:
    """The scorer as an arm that judges answers (`echo-oracle`) calls it: by the task's
    benchmark, as the verdict will be (a HumanEval reply's code is run)."""
    return functools.partial(run, scorer)
