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
from typing import Any

from . import arm_registry, caching
from .errors import SweepqError
from .prompts import DEFAULT_NAME, UNSET_MAX_TOKENS, default_set
from .queue import Queue, Sweep
from .task import Task
from .transport import Transport, cli_argv


@dataclass(frozen=True)
class Request:
    """One call an arm would make: the model alias and exactly what would be sent."""

    index: int
    model: str
    system: str | None
    prompt: str
    max_tokens: int | None     # None: the set leaves it unset


class DryClient:
    """An `ArmClient` that records requests and replies `<reply to call N>`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def call(self, model: str, prompt: str, *, system: str | None = None,
             max_tokens: int | None = 1024) -> str:
        index = len(self.requests) + 1
        self.requests.append(Request(index, model, system, prompt, max_tokens))
        return f"<reply to call {index}>"

    def call_many(self, requests: Sequence[tuple[str, str, str | None]],
                  max_tokens: int | None = 1024) -> list[str]:
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
    bound = arm_registry.for_sweep([arm], sweep.prompts, module)[arm]
    client = DryClient()
    bound(Task.from_payload(json.loads(rows[0]["task"])), client)
    return client.requests


def render(requests: Sequence[Request], models: dict[str, str]) -> str:
    """Each request as readable text: a header line, then its system and user text."""
    out = []
    for r in requests:
        model = models.get(r.model, r.model)
        alias = f"{r.model} = {model}" if model != r.model else model
        limit = "unset" if r.max_tokens is None else r.max_tokens
        out.append(f"=== call {r.index}: {alias}, max_tokens {limit}")
        out.append("--- system")
        out.append("(none)" if r.system is None else r.system)
        out.append("--- user")
        out.append(r.prompt)
    return "\n".join(out)


# -- what each backend would send (`requests --json`) -----------------------------------

def backend_arguments(r: Request, models: dict[str, str], transport: Transport,
                      claude_bin: str = "claude") -> dict[str, Any]:
    """One call as each backend would send it, argument for argument: the Messages API's
    keyword arguments (`backends.AnthropicBackend`) and the Claude CLI's argv and stdin
    (`transport.cli_argv`, with the set's CLI transport). `r` is the framed request (an
    inline system text is already inside the message)."""
    model = models.get(r.model, r.model)
    api: dict[str, Any] = {"model": model,
                           "max_tokens": UNSET_MAX_TOKENS if r.max_tokens is None
                           else r.max_tokens,
                           "messages": [{"role": "user", "content": r.prompt}]}
    if r.system:   # with its cache breakpoint when long enough (`work --cache`'s default)
        api["system"] = caching.system_param(model, r.system, "5m")
    argv, stdin = cli_argv(claude_bin, model, r.system, r.prompt, transport.cli_style)
    return {"call": r.index, "alias": r.model, "model": model, "system": r.system,
            "messages": api["messages"], "max_tokens": r.max_tokens,
            "api": api,
            "api_max_tokens": "set" if r.max_tokens is not None else
            f"unset in the prompt set: sweepq's default {UNSET_MAX_TOKENS}",
            "claude_cli": {"argv": argv, "stdin": stdin}}


def as_json(queue: Queue, sweep: Sweep, pairs: Sequence[tuple[str, str]],
            module: str | None = None, claude_bin: str = "claude") -> list[dict[str, Any]]:
    """`requests --json`: for each (task id, arm), its calls as each backend sends them."""
    out = []
    for task_id, arm in pairs:
        set_name = set_of(sweep, arm, module)
        ps = (sweep.prompts or {DEFAULT_NAME: default_set()})[set_name]
        calls = requests_for(queue, sweep, task_id, arm, module)
        out.append({"task_id": task_id, "arm": arm, "prompt_set": set_name,
                    "calls": [backend_arguments(r, sweep.models, ps.transport, claude_bin)
                              for r in calls]})
    return out


def set_of(sweep: Sweep, arm: str, module: str | None = None) -> str:
    """The name of the prompt set `arm` runs with in `sweep`."""
    return arm_registry.set_name_of(arm, arm_registry.registry(module))


def all_pairs(queue: Queue, sweep: Sweep, task_ids: Sequence[str],
              arms: Sequence[str]) -> list[tuple[str, str]]:
    """The (task id, arm) pairs asked for: every task and arm of the sweep when none are."""
    if not task_ids:
        task_ids = [r["task_id"] for r in queue.read(
            "SELECT task_id FROM jobs WHERE sweep = ? GROUP BY task_id ORDER BY min(position)",
            (sweep.name,))]
    return [(t, a) for t in task_ids for a in (arms or sweep.arms)]
