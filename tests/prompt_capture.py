"""What every arm sends, captured without a model: the before/after check of prompt sets.

`capture` runs an arm against a recording client in two modes, so every branch an arm
has is taken: "agree" (every reply declares the gold answer and starts with YES: no
escalation) and "disagree" (every reply a distinct unparseable text: every arm
escalates). `tests/data/prompts/golden_requests.json` was written by `make_golden()`
from the code before prompt sets existed; `test_prompts.py` holds today's code to it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "data" / "prompts" / "golden_requests.json"
SUBTASK_INDICES = (0, 7)
MODES = ("agree", "disagree")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class RecordingClient:
    """An `ArmClient` that records each request and answers from the mode, never a model."""

    def __init__(self, mode: str, answer: str) -> None:
        self.mode, self.answer = mode, answer
        self.sent: list[tuple[str, str | None, str, int]] = []

    def _reply(self) -> str:
        if self.mode == "agree":
            return f"YES\nAnswer: {self.answer}"
        return f"<reply {len(self.sent)}>"

    def call(self, model: str, prompt: str, *, system: str | None = None,
             max_tokens: int = 1024) -> str:
        self.sent.append((model, system, prompt, max_tokens))
        return self._reply()

    def call_many(self, requests: Sequence[tuple[str, str, str | None]],
                  max_tokens: int = 1024) -> list[str]:
        return [self.call(m, p, system=s, max_tokens=max_tokens) for m, p, s in requests]


def capture(arm: Callable[[Any, Any], str], task: Any) -> dict[str, str]:
    """Mode -> "<calls>:<sha256 of the requests as JSON>" (model, system, prompt, max_tokens)."""
    out = {}
    for mode in MODES:
        client = RecordingClient(mode, task.answer)
        arm(task, client)
        out[mode] = f"{len(client.sent)}:{_sha(json.dumps(client.sent, ensure_ascii=False))}"
    return out


def requests_of(arm: Callable[[Any, Any], str], task: Any, mode: str) -> list[tuple]:
    """The requests themselves, for a message when a digest differs."""
    client = RecordingClient(mode, task.answer)
    arm(task, client)
    return client.sent


def sample_tasks() -> list[Any]:
    """The tasks the golden file covers: two of every subtask, plus the odd shapes."""
    from sweepq import bbh

    tasks = bbh.load_tasks(list(bbh.SUBTASKS), 8, 0, str(Path(__file__).parents[2] /
                                                            "shared" / "bbh"))
    tasks = [t for t in tasks if t.index in SUBTASK_INDICES]
    tasks.append(bbh.make_task("navigate", 900, "No options {here}, braces {0} and {x}?", "Yes"))
    tasks.append(bbh.make_task("date_understanding", 901, "Pick {one}: \\n literal", "(B)",
                               [("A", "x {y}"), ("B", "z")]))
    return tasks


def make_golden() -> None:
    """Write GOLDEN from the code as it is (run once, before prompt sets)."""
    from sweepq.arms import BUILTIN

    tasks = sample_tasks()
    golden = {"tasks": [t.payload() for t in tasks],
              "requests": {name: {t.task_id: capture(arm, t) for t in tasks}
                           for name, arm in BUILTIN.items()}}
    GOLDEN.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    make_golden()
