"""Arms: the routing strategies a sweep compares, and the registry that names them.

An arm is a function `arm(task, client) -> str`: it gets the task (a
`bbh.Task`, gold answer included) and a client, makes model calls through the
client, and returns the output text to score. The client counts and journals
every call, so an arm never deals with retries, replay or cost.

    def my_arm(task: Task, client: ArmClient) -> str:
        return client.call("haiku", task.prompt, system=PERSONA_A)

The contract, for custom arms as for these:

- `client.call(model, prompt, system=None, max_tokens=1024) -> str` makes one
  call; `client.call_many([(model, prompt, system), ...])` makes several at
  once (threads) and returns their texts in request order. `model` is an alias
  of the sweep's model map (`haiku`, `sonnet`, `opus`, or any alias given with
  `--model`) or a model id. Every call counts toward the result's `sub_calls`,
  tokens and cost.
- Return a `str`: the text the scorer reads. Anything else (None included)
  fails the attempt as an arm bug rather than scoring as a wrong answer.
- Let exceptions from the client propagate: a failed call is the worker's to
  classify (pause, back off, error the job). Any other exception an arm raises
  counts a failed attempt with its message.
- Be deterministic in what you send: a retried job replays journaled calls by
  request (model, system, prompt, max_tokens), so an arm that builds the same
  requests again pays only for the calls it had not made yet.
- Reading `task.answer` makes an arm an oracle (like `echo-oracle`): fine for
  a ceiling, not deployable.

Register custom arms with an entry point in the group `sweepq.arms`
(`my-arm = "mypkg.arms:my_arm"`, found in any installed distribution), or put
them in a module's `ARMS` dict (name -> function) and pass
`--arms-module mypkg.arms` to both `sweepq enqueue` and `sweepq work` (the
module is not stored with the sweep). An entry point or `ARMS` entry with a
built-in's name replaces the built-in.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from typing import Protocol

from . import templates
from .bbh import Task, extract_answer, score
from .errors import SweepqError

PERSONA_A = ("You are a careful, methodical reasoner. Work through the problem step by step, "
             "check each step, and end with a final line of the form 'Answer: X'.")
PERSONA_B = ("You are a pragmatic problem solver. Go straight for the most likely answer with "
             "brief reasoning, and end with a final line of the form 'Answer: X'.")
JUDGE_SYSTEM = "You compare two answers to the same question. Reply with YES or NO only."
# The judge's prompt and verdicts. The fake API recognises a judge call through
# `read_judge_prompt` and answers with these words, so it follows any edit made here.
JUDGE_PROMPT = ("Question:\n{question}\n\n<response_a>\n{a}\n</response_a>\n\n"
                "<response_b>\n{b}\n</response_b>\n\n"
                "Do both responses pick the same final choice? Answer YES or NO.")
JUDGE_AGREE = "YES"
JUDGE_DISAGREE = "NO"
ENTRY_POINT_GROUP = "sweepq.arms"


class ArmClient(Protocol):
    """What an arm may do: call a model (by alias or id) alone or several at once."""

    def call(self, model: str, prompt: str, *, system: str | None = None,
             max_tokens: int = 1024) -> str: ...

    def call_many(self, requests: Sequence[tuple[str, str, str | None]],
                  max_tokens: int = 1024) -> list[str]: ...


Arm = Callable[[Task, ArmClient], str]


def haiku_only(task: Task, client: ArmClient) -> str:
    """One cheap call."""
    return client.call("haiku", task.prompt, system=PERSONA_A)


def sonnet_only(task: Task, client: ArmClient) -> str:
    """One strong call."""
    return client.call("sonnet", task.prompt, system=PERSONA_A)


def _two_cheap(task: Task, client: ArmClient) -> tuple[str, str]:
    a, b = client.call_many([("haiku", task.prompt, PERSONA_A), ("haiku", task.prompt, PERSONA_B)])
    return a, b


def echo_lexical(task: Task, client: ArmClient) -> str:
    """Two cheap personas; escalate to sonnet when their answers differ.

    When neither answer parses, identical (whitespace-normalised) texts count
    as agreement.
    """
    a, b = _two_cheap(task, client)
    answer_a, answer_b = extract_answer(a, task), extract_answer(b, task)
    if answer_a is None and answer_b is None:
        agree = _normalise(a) == _normalise(b)
    else:
        agree = answer_a == answer_b
    return a if agree else sonnet_only(task, client)


def echo_judge(task: Task, client: ArmClient) -> str:
    """Two cheap personas and a cheap judge; escalate unless the judge says YES.

    Only a verdict starting with an upper-case `YES` (after leading whitespace)
    is agreement; anything else, "yes, but…" and "Yes" included, is
    disagreement and escalates: a doubtful verdict costs a sonnet call, never
    an unchecked answer.
    """
    a, b = _two_cheap(task, client)
    verdict = client.call("haiku", judge_prompt(task, a, b), system=JUDGE_SYSTEM, max_tokens=16)
    return a if judge_agrees(verdict) else sonnet_only(task, client)


def judge_agrees(verdict: str) -> bool:
    """The spec: anything not starting with YES is a disagreement."""
    return verdict.lstrip().startswith(JUDGE_AGREE)


def echo_oracle(task: Task, client: ArmClient) -> str:
    """Two cheap personas scored against the gold: the ceiling for any agreement signal.

    Not deployable (it reads the answer key); it bounds what an agreement
    signal could achieve.
    """
    a, b = _two_cheap(task, client)
    for output in (a, b):
        if score(output, task)[0]:
            return output
    return sonnet_only(task, client)


def judge_prompt(task: Task, a: str, b: str) -> str:
    return JUDGE_PROMPT.format(question=task.prompt, a=a, b=b)


def read_judge_prompt(prompt: str) -> tuple[str, str, str] | None:
    """(question, response a, response b) of a prompt `judge_prompt` built; else None."""
    shape = templates.pattern(JUDGE_PROMPT, re.S, question=".*?", a=".*?", b=".*?")
    match = shape.fullmatch(prompt)
    return None if match is None else (match["question"], match["a"], match["b"])


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


BUILTIN: dict[str, Arm] = {
    "haiku-only": haiku_only,
    "sonnet-only": sonnet_only,
    "echo-lexical": echo_lexical,
    "echo-judge": echo_judge,
    "echo-oracle": echo_oracle,
}


def registry(module: str | None = None) -> dict[str, Arm]:
    """Built-in arms, then entry points of group `sweepq.arms`, then `module.ARMS`."""
    from importlib.metadata import entry_points  # slow to import; only needed here

    arms = dict(BUILTIN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        arms[entry.name] = entry.load()
    if module:
        try:
            loaded = importlib.import_module(module)
        except ImportError as exc:
            raise SweepqError(f"cannot import --arms-module {module}: {exc}") from None
        extra = getattr(loaded, "ARMS", None)
        if not isinstance(extra, dict):
            raise SweepqError(f"--arms-module {module} has no ARMS dict (name -> function)")
        arms.update(extra)
    return arms


def validate(names: Sequence[str], module: str | None = None) -> dict[str, Arm]:
    """The arms named, or an error listing the known ones."""
    if not names:
        raise SweepqError("no arms given: pass --arms a,b")
    known = registry(module)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SweepqError(f"unknown arm {', '.join(unknown)}: known arms are "
                          f"{', '.join(sorted(known))}")
    if len(set(names)) != len(names):
        raise SweepqError("an arm is listed twice in --arms")
    return {name: known[name] for name in names}
