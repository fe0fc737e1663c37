"""`sweepq rescore`: a sweep's stored replies scored again by another scorer, no model call.

Why: whether a reply is right depends on the rules that read it (`scorers`), and a
sweep costs hours of paid calls. Every result keeps the final reply it was scored from
(`results.output`), so any scorer can judge a finished sweep again for free. The new
verdicts are a scoring of their own (`scorings`, `verdicts`); the sweep's own verdicts
stay in `results`, and `summary`/`export --scorer NAME` choose which one to show.

A result with no stored reply (an imported historical row) cannot be scored again: it
is counted and left out of the scoring, never given a verdict it was not read for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from . import scorers, stats
from .errors import SweepqError
from .queue import Queue, Sweep
from .storetext import load
from .task import Task

# Details that say why there was nothing to read (worker.no_answer); kept over a new
# "unparseable", since the scorer cannot know the model refused or was cut off.
NO_ANSWER = frozenset({stats.REFUSAL, stats.EMPTY_REPLY, stats.CUT_OFF})


@dataclass
class ArmChanges:
    """How one arm's verdicts moved from the sweep's own scoring to the new one (the arm
    is its key in `Rescored.arms`)."""

    results: int = 0
    changed: int = 0
    now_passed: int = 0
    now_failed: int = 0

    def add(self, was: tuple[bool, str], now: tuple[bool, str]) -> None:
        """One result's verdict before and after: (passed, detail) each."""
        self.results += 1
        if was != now:
            self.changed += 1
            self.now_passed += now[0] and not was[0]
            self.now_failed += was[0] and not now[0]


@dataclass
class Rescored:
    sweep: str
    scorer: str
    no_reply: int = 0
    arms: dict[str, ArmChanges] = field(default_factory=dict)


def rescore(queue: Queue, sweep: Sweep, scorer_name: str) -> Rescored:
    """Score every done job's stored reply with `scorer_name` and store the scoring."""
    scorer = scorers.get(scorer_name)
    report = Rescored(sweep.name, scorer_name,
                      arms={arm: ArmChanges() for arm in sweep.arms})
    verdicts: list[tuple[int, bool, str]] = []
    sql = ("SELECT r.job_id, j.arm, j.task, r.passed, r.detail, r.output"
           " FROM results AS r JOIN jobs AS j USING (job_id)"
           " WHERE j.sweep = ? AND j.state = 'done' ORDER BY r.completion_seq")
    for batch in queue.chunks(sql, (sweep.name,)):
        for job_id, arm, task, was_passed, was_detail, output in batch:
            if output is None:
                report.no_reply += 1
                continue
            passed, detail = _verdict(scorer, load(output), json.loads(task), job_id)
            if not passed and was_detail in NO_ANSWER:
                detail = was_detail
            verdicts.append((job_id, passed, detail))
            report.arms.setdefault(arm, ArmChanges()).add((bool(was_passed), was_detail),
                                                          (passed, detail))
    queue.store_scoring(sweep.name, scorer_name, verdicts, report.no_reply)
    return report


def _verdict(scorer: scorers.Scorer, output: str, task: dict, job_id: int) -> tuple[bool, str]:
    """The scorer's verdict; a sandbox that cannot run a HumanEval reply stops the rescore
    in one line before anything is stored (the machine failed, not the answer)."""
    from .sandbox import SandboxError

    try:
        return scorers.run(scorer, output, Task.from_payload(task))
    except SandboxError as exc:
        raise SweepqError(f"the sandbox could not run the code of job {job_id} ({exc}); "
                          "nothing was stored: run the rescore again") from None


def render(report: Rescored) -> str:
    """What `rescore` prints: one line per arm, then the results it could not read."""
    lines = [f"sweep {report.sweep} rescored by {report.scorer} (stored as a scoring; "
             f"the sweep's own verdicts are kept):"]
    for arm, c in report.arms.items():
        lines.append(f"  {arm}: {c.changed} of {c.results} verdicts changed "
                     f"({c.now_passed} now passed, {c.now_failed} now failed)")
    if report.no_reply:
        lines.append(f"  {report.no_reply} results have no stored reply (imported): "
                     "left out of this scoring")
    return "\n".join(lines)


# -- choosing a scoring to show ------------------------------------------------------

def scoring_of(queue: Queue, sweep: Sweep, scorer: str | None) -> str | None:
    """The scoring `summary`/`export` read: None for the sweep's own verdicts (`results`),
    else the scorer name of a stored scoring; an error when there is none by that name."""
    if scorer is None:
        return None
    stored = _has_scorings(queue) and queue.read(
        "SELECT 1 AS x FROM scorings WHERE sweep = ? AND scorer = ?", (sweep.name, scorer))
    if stored:
        return scorer
    if scorer == sweep.scorer:
        return None
    raise SweepqError(f"sweep {sweep.name!r} has no scoring by {scorer!r} (its own scorer "
                      f"is {sweep.scorer!r}): run `sweepq rescore --sweep {sweep.name} "
                      f"--scorer {scorer}` first", "scorer")


def verdict_source(scoring: str | None) -> tuple[str, str]:
    """(the alias whose `passed` and `detail` to read, the join that brings it) for a
    scoring; results with no verdict in it (no stored reply) drop out of the join."""
    if scoring is None:
        return "r", ""
    return "v", f" JOIN verdicts AS v ON v.job_id = r.job_id AND v.scorer = {_literal(scoring)}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _has_scorings(queue: Queue) -> bool:
    return queue.has_table("scorings")
