"""Arms: the routing strategies a sweep compares, and the contract every arm keeps.

An arm is a function `arm(task, client) -> str`: it gets the task (a
`task.Task`, gold answer included) and a client, makes model calls through the
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

A sweep finds its arms by name and binds each to its prompt set in `arm_registry`
(custom arms included); every built-in takes that set as `prompts` and, called without
one, uses the built-in default set, i.e. the constants below.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Protocol

from . import codeextract, judges, templates
from .bbh_answers import extract_answer, score
from .prompts import PromptSet, default_set
from .task import Task

# The default set's texts (prompts/default.toml), under the names code and tests know.
# The fake API recognises a default judge call through `read_judge_prompt` and answers
# with these words.
_DEFAULT = default_set()
PERSONA_A = _DEFAULT.persona_a
PERSONA_B = _DEFAULT.persona_b
JUDGE_SYSTEM = _DEFAULT.judge_system
JUDGE_PROMPT = _DEFAULT.get("judge.question")
JUDGE_AGREE = _DEFAULT.agree
JUDGE_DISAGREE = _DEFAULT.disagree


class ArmClient(Protocol):
    """What an arm may do: call a model (by alias or id) alone or several at once."""

    def call(self, model: str, prompt: str, *, system: str | None = None,
             max_tokens: int | None = 1024) -> str: ...

    def call_many(self, requests: Sequence[tuple[str, str, str | None]],
                  max_tokens: int | None = 1024) -> list[str]: ...


Arm = Callable[[Task, ArmClient], str]


def haiku_only(task: Task, client: ArmClient, prompts: PromptSet | None = None) -> str:
    """One cheap call."""
    ps = prompts or default_set()
    return client.call("haiku", task.prompt, system=ps.system(ps.persona_a, task.subtask),
                       max_tokens=ps.answer_max_tokens)


def sonnet_only(task: Task, client: ArmClient, prompts: PromptSet | None = None) -> str:
    """One strong call."""
    ps = prompts or default_set()
    return client.call("sonnet", task.prompt, system=ps.system(ps.persona_a, task.subtask),
                       max_tokens=ps.answer_max_tokens)


def _two_cheap(task: Task, client: ArmClient, ps: PromptSet) -> tuple[str, str]:
    a, b = client.call_many([("haiku", task.prompt, ps.system(ps.persona_a, task.subtask)),
                             ("haiku", task.prompt, ps.system(ps.persona_b, task.subtask))],
                            max_tokens=ps.answer_max_tokens)
    return a, b


def echo_lexical(task: Task, client: ArmClient, prompts: PromptSet | None = None) -> str:
    """Two cheap personas; escalate to sonnet when their answers differ.

    When neither answer parses, identical (whitespace-normalised) texts count
    as agreement.
    """
    ps = prompts or default_set()
    a, b = _two_cheap(task, client, ps)
    answer_a, answer_b = extract_answer(a, task), extract_answer(b, task)
    if answer_a is None and answer_b is None:
        agree = _normalise(a) == _normalise(b)
    else:
        agree = answer_a == answer_b
    return a if agree else sonnet_only(task, client, ps)


def echo_judge(task: Task, client: ArmClient, prompts: PromptSet | None = None,
               judge: str = "haiku") -> str:
    """Two cheap personas and a cheap judge; escalate unless the judge agrees.

    The judge's texts and agreement rule are the set's, or the task's subtask's own
    (`judges.Judge.of`: HumanEval's code judge, shown each reply's code). The default
    set's rule is a verdict starting with an upper-case `YES` (after leading whitespace):
    anything else, "yes, but…" and "Yes" included, is disagreement and escalates: a
    doubtful verdict costs a sonnet call, never an unchecked answer. `judge` is the
    judge's model alias or id, any vendor's (`echo-judge[judge=openai:gpt-5.4-mini]`).
    """
    ps = prompts or default_set()
    a, b = _two_cheap(task, client, ps)
    asked = judges.Judge.of(ps, task.subtask)
    verdict = client.call(judge, asked.prompt(task, a, b), system=asked.system,
                          max_tokens=ps.judge_max_tokens)
    return a if asked.agrees(verdict) else sonnet_only(task, client, ps)


def judge_agrees(verdict: str) -> bool:
    """The spec: anything not starting with YES is a disagreement."""
    return verdict.lstrip().startswith(JUDGE_AGREE)


def echo_oracle(task: Task, client: ArmClient, prompts: PromptSet | None = None,
                scorer: Callable[[str, Task], tuple[bool, str]] = score) -> str:
    """Two cheap personas scored against the gold: the ceiling for any agreement signal.

    Not deployable (it reads the answer key); it bounds what an agreement
    signal could achieve. "Right" is by the sweep's scorer (`scorer`), as its verdicts are.
    """
    ps = prompts or default_set()
    a, b = _two_cheap(task, client, ps)
    for output in (a, b):
        if scorer(output, task)[0]:
            return output
    return sonnet_only(task, client, ps)


def echo_ast(task: Task, client: ArmClient, prompts: PromptSet | None = None) -> str:
    """Two cheap personas; escalate to sonnet unless their programs are the same syntax tree.

    For code tasks (a HumanEval problem's `entry_point`): `codeextract.ast_agree`, names
    kept as the team's arm compared them; a reply that does not parse never agrees. On a
    task without code it is `echo-lexical`.
    """
    ps = prompts or default_set()
    entry_point = task.extra.get("entry_point")
    if not entry_point:
        return echo_lexical(task, client, ps)
    a, b = _two_cheap(task, client, ps)
    agree = codeextract.ast_agree(a, b, task.question, str(entry_point))
    return a if agree else sonnet_only(task, client, ps)


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
    "echo-ast": echo_ast,
}

# The old runner's judge variants, a line each: the arm name (what the export writes) and
# the alias of its judge, which the sweep's model map defines
# (`--model gpt-5.4-mini=openai:gpt-5.4-mini`, `--model small=local:qwen3:4b@URL`).
# The historical files name OpenAI's as `echo-judge-openai-<model>`
# (../shared/echo-results: `echo-judge-openai-gpt-5.4-mini`); the shorter
# `echo-judge-gpt-5.4…` came first here and stays, so sweeps enqueued with it still run.
JUDGE_VARIANTS: dict[str, str] = {
    "echo-judge-openai": "openai",
    "echo-judge-openai-gpt-5.4": "gpt-5.4",
    "echo-judge-openai-gpt-5.4-mini": "gpt-5.4-mini",
    "echo-judge-openai-gpt-5.4-nano": "gpt-5.4-nano",
    "echo-judge-gpt-5.4": "gpt-5.4",
    "echo-judge-gpt-5.4-mini": "gpt-5.4-mini",
    "echo-judge-gpt-5.4-nano": "gpt-5.4-nano",
    "echo-judge-gemini-pro": "gemini-pro",
    "echo-judge-gemini-flash": "gemini-flash",
    "echo-judge-gemini-flash-lite": "gemini-flash-lite",
    "echo-small-judge": "small",
}
VARIANTS: dict[str, Arm] = {name: functools.partial(echo_judge, judge=alias)
                            for name, alias in JUDGE_VARIANTS.items()}
# The model aliases each built-in calls, besides the one an option names (`judge`), so
# `enqueue` refuses a sweep whose map lacks one before any job is written, instead of a
# fatal error hours in. A custom arm may declare its own as a `models` attribute (a tuple
# of aliases); one that does not is not checked.
CALLS: dict[Callable[..., str], tuple[str, ...]] = {
    haiku_only: ("haiku",), sonnet_only: ("sonnet",), echo_lexical: ("haiku", "sonnet"),
    echo_judge: ("haiku", "sonnet"), echo_oracle: ("haiku", "sonnet"),
    echo_ast: ("haiku", "sonnet"),
}
