"""The fake's deterministic answers: right or wrong as configured, never random per run.

The text depends only on a hash of (seed, model, system, messages), so concurrency and
transport (HTTP or in-process) never change it. A prompt is recognised by asking the
modules that built it: `arms.read_judge_prompt` for the echo judge (`judges.read` for a
subtask's own, HumanEval's code judge included), `bbh.prompt_labels`
for a multiple-choice task (MMLU-Pro's ten options and a field map's included), and the
reply ends with `bbh.format_answer`; a HumanEval prompt (`benchmarks.standard`'s
`code_prompt_stub`) gets a fenced program, the answer key's code when right. Nothing here
copies a prompt's wording, so editing a template in `bbh` or `arms` cannot break it.
A sweep's own prompt sets (`FakeConfig.prompt_sets`, `fake-api --prompts FILE`) are
recognised the same way, by their own templates, and judged with their own verdicts.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sweepq import arms, bbh, judges
from sweepq.benchmarks.standard import code_prompt_stub

from .config import FakeConfig
from .wire import canonical

_FLIPS = {
    "true": "False", "false": "True", "yes": "No", "no": "Yes",
    "valid": "invalid", "invalid": "valid",
}


def text_of(content: Any) -> str:
    """The text of a message's content (a string, or the text blocks of a list)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def count_tokens(text: str) -> int:
    """The fake's tokenizer: four characters a token, at least one."""
    return max(1, len(text) // 4)


def input_tokens(body: Any) -> int:
    """Input tokens of a request: its system prompt and every message."""
    if not isinstance(body, dict):
        return 1
    n = len(text_of(body.get("system", "")))
    for m in body.get("messages") or []:
        if isinstance(m, dict):
            n += len(text_of(m.get("content")))
    return max(1, n // 4)


def accuracy_for(acc: dict[str, float], model: str) -> float:
    """P(correct) for `model`: the longest key contained in its id, else "*", else 1."""
    best: tuple[int, float] | None = None
    for key, p in acc.items():
        if key != "*" and key in model and (best is None or len(key) > best[0]):
            best = (len(key), p)
    if best is not None:
        return best[1]
    return acc.get("*", 1.0)


def wrong_free_form(gold: str) -> str:
    """A plausible wrong answer of the gold's shape (the flip of a yes/no, n + 1, …)."""
    g = gold.strip()
    if g.lower() in _FLIPS:
        return _FLIPS[g.lower()]
    try:
        return str(int(g) + 1)
    except ValueError:
        return g + " x"


def _squeezed(code: str) -> str:
    """Code with every run of whitespace one space: the fake code judge's sameness."""
    return re.sub(r"\s+", " ", code).strip()


def _unit(h: bytes, i: int) -> float:
    """A uniform float in [0, 1) from 8 bytes of the hash."""
    return int.from_bytes(h[i:i + 8], "big") / 2.0**64


class Answerer:
    """Writes the answer text for a valid request body, as `FakeConfig` says."""

    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.key = {k.strip(): v for k, v in (config.answer_key or {}).items()}

    def text(self, body: dict) -> str:
        """The deterministic answer text for a valid request body."""
        system = body.get("system")
        if isinstance(system, list):   # blocks (a cache breakpoint): the same answer as text
            system = text_of(system)
        h = hashlib.sha256(canonical(
            [self.config.seed, body["model"], system, body["messages"]])).digest()
        user = next((text_of(m["content"]) for m in reversed(body["messages"])
                     if m.get("role") == "user"), "")
        judged = self._judged(user)
        if judged is not None:
            return judged
        gold = self.key.get(user.strip())
        correct = gold is not None and _unit(h, 0) < accuracy_for(self.config.accuracy,
                                                                   body["model"])
        pick = int.from_bytes(h[8:16], "big")
        if code_prompt_stub(user) is not None:
            return self._code(gold, correct)
        labels = self._labels(user)
        if labels:
            reasoning = (f"Let me consider each of the {len(labels)} options in turn.\n"
                         "Weighing them against the question, one fits best.")
            answer = self._choice(labels, gold, correct, pick)
        else:
            reasoning = "Let me think about this step by step.\nWorking through it carefully."
            answer = "0" if gold is None else self._free_form(gold, correct)
        return f"{reasoning}\n{bbh.format_answer(answer)}"

    def _judged(self, user: str) -> str | None:
        """The verdict, when `user` is a judge question of the built-in or a given set."""
        judged = arms.read_judge_prompt(user)
        if judged is not None:
            return self._verdict(judged[1], judged[2], arms.JUDGE_AGREE, arms.JUDGE_DISAGREE)
        for prompt_set in self.config.prompt_sets:
            judged = prompt_set.read_judge(user)
            if judged is not None:
                return self._verdict(judged[1], judged[2], prompt_set.agree,
                                     prompt_set.disagree)
        own = judges.read(user, self.config.prompt_sets)
        if own is not None:
            judge, _, a, b = own
            if bbh.declared_answers(a) or bbh.declared_answers(b):
                return self._verdict(a, b, judge.agree, judge.disagree)
            same = _squeezed(a) == _squeezed(b)
            return f"{judge.agree if same else judge.disagree}\n" \
                   f"The two programs are {'the same' if same else 'different'}."
        return None

    def _labels(self, user: str) -> list[str]:
        """Option labels by the built-in option line, else by a given set's."""
        labels = bbh.prompt_labels(user)
        for prompt_set in self.config.prompt_sets:
            labels = labels or prompt_set.labels(user)
        return labels

    @staticmethod
    def _verdict(a: str, b: str, agree: str, disagree: str) -> str:
        """The judge: agreement when the two responses' last declared answers match."""
        fa, fb = bbh.declared_answers(a), bbh.declared_answers(b)
        same = bool(fa and fb and fa[-1].lower() == fb[-1].lower())
        word = agree if same else disagree
        return f"{word}\nThe two final answers {'match' if same else 'differ'}."

    @staticmethod
    def _code(gold: str | None, correct: bool) -> str:
        """A HumanEval reply: the gold code (the canonical solution, or whatever program an
        answer key gives) when right, else a body that returns None (its tests fail)."""
        code = gold if correct and gold is not None else "    return None\n"
        return f"Here is the completed function.\n```python\n{code.rstrip()}\n```"

    @staticmethod
    def _free_form(gold: str, correct: bool) -> str:
        return gold.strip() if correct else wrong_free_form(gold)

    def _choice(self, labels: list[str], gold: str | None, correct: bool, pick: int) -> str:
        if gold is None:
            return labels[pick % len(labels)]
        label = self._label_of(gold)
        if label is None:                       # gold is not a label: treat like free form
            return self._free_form(gold, correct)
        if correct:
            return gold.strip()
        others = [x for x in labels if x != label] or [chr(65 + (ord(label) - 64) % 26)]
        wrong = others[pick % len(others)]
        return f"({wrong})" if gold.strip().startswith("(") else wrong

    @staticmethod
    def _label_of(gold: str) -> str | None:
        """The label a gold names, bare ("B") or in parentheses ("(B)"); else None."""
        g = gold.strip()
        if len(g) == 3 and g[0] == "(" and g[2] == ")":
            g = g[1]
        return g if len(g) == 1 and "A" <= g <= "Z" else None
