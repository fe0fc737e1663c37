"""The `echo` scorer: the old runner's extraction and verdicts, reproduced rule for rule.

Why a second scorer: a sweep that continues the team's runs (enspyrco/echo, branch
`feat/bbh-resilient-resume`, `experiment/benchmarks/bbh.py`) must score as they did, or
its pass rates are not comparable with theirs. Its rules, as facts:

1. A letter (A-Z, either case, not followed by another letter) is looked for first.
   Strong forms anywhere in the reply, tried in this order, the *last* match of the
   first form that matches winning: a whole line "Answer: X" (parentheses, a period);
   a line starting "Answer: X"; "answer|final answer|correct answer|correct choice"
   then "is" or ":" then X; "option|choice X [is] correct|best|right"; "therefore|so|
   thus[,] X [is] correct|best|right"; "therefore|so|thus[,] [the] answer|correct
   answer|choice is X". Weak forms only in the last five lines: a line "(X)" or "X)";
   "option|choice|answer is X"; a single letter ending the reply (a period allowed).
2. A letter that is not one of the task's labels (or none) sends the reply to the
   choice texts: "Answer: TEXT" lines first, then "[final|correct] answer is|: TEXT"
   (up to a period or the line's end); within each form the last match whose text,
   lower-cased with spaces collapsed and parentheses stripped, is a choice's text.
3. Nothing found: "unparseable"; else "passed" or "expected GOLD got X".

Quirks kept on purpose (a sweepq scorer would not):
- "Honestly, the answer is a bit unclear" reads as A ("a" is a one-letter word).
- `**B**`, "is: (A)", a quoted '"B"' and `\\boxed{B}` are missed (unless a weak form
  catches them at the end).
- The form order beats position: "Answer: True ... Actually, the answer is False" keeps
  True, and a letter anywhere beats a choice text at the end.
- A lower-case letter counts only where the runner's patterns match case-blind.
- Free-form subtasks: the runner refused to load them; here their replies are read for
  a letter like any other, so no free-form reply can pass.
"""

from __future__ import annotations

import re
from typing import Any

from .task import Task, as_task, verdict

_L = r"\(?\s*([A-Z])(?![A-Za-z])\s*\)?"          # a letter, maybe in parentheses
_STRONG = [
    re.compile(r"^\s*answer\s*:\s*" + _L + r"\s*\.?\s*$", re.I | re.M),
    re.compile(r"^\s*answer\s*:\s*" + _L, re.I | re.M),
    re.compile(r"\b(?:final\s+answer|answer|correct\s+answer|correct\s+choice)\s*(?:is|:)\s*"
               + _L, re.I),
    re.compile(r"\b(?:option|choice)\s+" + _L + r"\s+(?:is\s+)?(?:correct|best|right)", re.I),
    re.compile(r"\b(?:therefore|so|thus),?\s+" + _L + r"\s+(?:is\s+)?(?:correct|best|right)",
               re.I),
    re.compile(r"\b(?:therefore|so|thus),?\s+(?:the\s+)?(?:answer|correct\s+answer|choice)"
               r"\s+is\s+" + _L, re.I),
]
_WEAK = [
    re.compile(r"^\s*\(?\s*([A-Z])\s*\)\s*$", re.I | re.M),
    re.compile(r"\b(?:option|choice|answer)\s+is\s+" + _L, re.I),
    re.compile(r"\b([A-Z])(?![A-Za-z])\s*\.?\s*$", re.I),
]
_TEXT_FORMS = [
    re.compile(r"^\s*answer\s*:\s*(.+?)\s*\.?\s*$", re.I | re.M),
    re.compile(r"\b(?:final\s+answer|answer|correct\s+answer)\s*(?:is|:)\s*(.+?)(?:\.|\n|$)",
               re.I),
]
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def letter(reply: str) -> str | None:
    """The letter the runner read from a reply (its first step), or None."""
    if not reply or not reply.strip():
        return None
    body = reply.strip()
    for form in _STRONG:
        found = form.findall(body)
        if found:
            return found[-1].upper()
    tail = "\n".join(body.splitlines()[-5:])
    for form in _WEAK:
        found = form.findall(tail)
        if found:
            return found[-1].upper()
    return None


def _folded(text: str) -> str:
    return re.sub(r"\s+", " ", str(text).strip().lower())


def choice_text(reply: str, labels: list[str], texts: list[str]) -> str | None:
    """The label whose text the reply states as its answer (the runner's second step)."""
    if not labels or not texts:
        return None
    folded = [_folded(t) for t in texts]
    body = str(reply).strip()
    for form in _TEXT_FORMS:
        for found in reversed(form.findall(body)):
            said = _folded(str(found).strip().strip("()"))
            if said in folded:
                return labels[folded.index(said)]
    return None


def score(output: str, task: Task | dict[str, Any]) -> tuple[bool, str]:
    """(passed, detail) as the old runner's `score_bbh` gave them."""
    t = as_task(task)
    labels = [label for label, _ in t.choices]
    got = letter(output)
    if got not in (set(labels) or _LETTERS):
        got = choice_text(output, labels, [text for _, text in t.choices])
    return verdict(got, t)
