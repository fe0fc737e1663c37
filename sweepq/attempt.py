"""One attempt of a job: run its arm through a client and say what came of it, as a
value (`Completed`, `Failed`, `Paused`, `Broken`, or `DEFERRED`), never an exception
the caller must know to catch. The policy that acts on it is `jobrun.JobRunner`'s.

`Deferred` stays an exception only inside the arm: a batch client raises it to unwind
an arm whose next call goes out in a message batch; it ends here.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from . import scorers, stats
from .arms import Arm
from .failures import CallFailed, Failure
from .models import JobClient, QueuePaused
from .queue import Result
from .sandbox import SandboxError
from .task import Task


class Deferred(BaseException):
    """The arm's next call goes out elsewhere (a message batch): keep the job, run it later.

    A BaseException, so an arm's own `except Exception` cannot swallow it.
    """


@dataclass(frozen=True)
class Completed:
    """The arm answered: the result to write, scored by the sweep's scorer."""

    result: Result


@dataclass(frozen=True)
class Failed:
    """A model call failed, classified."""

    failure: Failure


@dataclass(frozen=True)
class Paused:
    """A pause stopped the call; `scope` is what ran out (None: the whole queue)."""

    scope: str | None


@dataclass(frozen=True)
class Broken:
    """The arm itself is at fault (it raised, or returned no text): the attempt counts."""

    message: str


DEFERRED = "deferred"       # the arm's next call is in a message batch
Attempt = Completed | Failed | Paused | Broken | str


def attempt(arm_name: str, arm: Arm, task: Task, client: JobClient, scorer: Any) -> Attempt:
    """Run the arm once and score its reply. sqlite3 errors (the journal could not be
    written: the database, not the arm) and LeaseLost propagate."""
    started = time.monotonic()
    try:
        output = arm(task, client)
    except Deferred:
        return DEFERRED
    except CallFailed as exc:
        return Failed(exc.failure)
    except QueuePaused as paused:
        return Paused(paused.scope)
    except sqlite3.Error:
        raise
    except Exception as exc:  # a bug in an arm: count the attempt, keep the message
        return Broken(f"arm {arm_name} raised {type(exc).__name__}: {exc}"[:500])
    if not isinstance(output, str):  # an arm bug too: None must not score as a wrong answer
        return Broken(f"arm {arm_name} returned {type(output).__name__}, not text")
    wall = time.monotonic() - started
    try:   # no transaction is open: a sandboxed run of the code takes seconds
        passed, detail = scorers.run(scorer, output, task)  # the sweep's own scorer
    except SandboxError as exc:   # the machine failed, not the answer: an attempt
        return Broken(f"the sandbox could not run the code: {exc}")
    if not passed:
        detail = no_answer(output, client.stop_reason_of(output)) or detail
    return Completed(Result(passed=passed, detail=detail, wall_seconds=wall,
                            sub_calls=client.calls, output=output, usage=client.usage,
                            models=client.models_used))


def no_answer(output: str, stop_reason: str | None) -> str | None:
    """The detail for a reply that holds no answer to score, from why the model stopped.

    A refusal, an empty reply and a reply cut off at max_tokens are still not
    passes, but a reader must be able to tell them from a wrong answer.
    """
    if stop_reason == "refusal":
        return stats.REFUSAL
    if not output.strip():
        return stats.EMPTY_REPLY
    if stop_reason == "max_tokens":
        return stats.CUT_OFF
    return None
