"""What an arm would send for one task, without sending anything (`sweepq requests`).

The arm runs for real, bound to the sweep's stored prompt set, against a client that
records each request and answers with a placeholder instead of calling a model. The
placeholders are distinct and hold no answer, so every arm takes its longest path:
personas disagree, the judge does not say YES, the oracle finds no right answer, and
the escalation call is shown too. Two sweeps' prompts can so be diffed before paying.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from . import arms as arms_mod
from .bbh import Task
from .errors import SweepqError
from .queue import Queue, Sweep


@dataclass(frozen=True)
class Request:
    """One call an arm would make: the model alias and exactly what would be sent."""

    index: int
    model: str
    system: str | None
    prompt: str
    max_tokens: int


class DryClient:
    """An `ArmClient` that records requests and replies `<reply to call N>`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def call(self, model: str, prompt: str, *, system: str | None = None,
             max_tokens: int = 1024) -> str:
        index = len(self.requests) + 1
        self.requests.append(Request(index, model, system, prompt, max_tokens))
        return f"<reply to call {index}>"

    def call_many(self, requests: Sequence[tuple[str, str, str | None]],
                  max_tokens: int = 1024) -> list[str]:
        return [self.call(model, prompt, system=system, max_tokens=max_tokens)
                for model, prompt, system in requests]


def requests_for(queue: Queue, sweep: Sweep, task_id: str, arm: str,
                 module: str | None = None) -> list[Request]:
    """The calls `arm` would make for the sweep's task `task_id`, with its stored set."""
    rows = queue.read("SELECT task FROM jobs WHERE sweep = ? AND task_id = ? LIMIT 1",
                      (sweep.name, task_id))
    if not rows:
        raise SweepqError(f"sweep {sweep.name!r} has no task {task_id!r} (task ids look like "
                          "bbh/navigate/3; see `sweepq export`)")
    bound = arms_mod.for_sweep([arm], sweep.prompts, module)[arm]
    client = DryClient()
    bound(Task.from_payload(json.loads(rows[0]["task"])), client)
    return client.requests


def render(requests: Sequence[Request], models: dict[str, str]) -> str:
    """Each request as readable text: a header line, then its system and user text."""
    out = []
    for r in requests:
        model = models.get(r.model, r.model)
        alias = f"{r.model} = {model}" if model != r.model else model
        out.append(f"=== call {r.index}: {alias}, max_tokens {r.max_tokens}")
        out.append("--- system")
        out.append("(none)" if r.system is None else r.system)
        out.append("--- user")
        out.append(r.prompt)
    return "\n".join(out)
