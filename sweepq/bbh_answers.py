"""Reading a model's answer out of its reply, and the `sweepq` scorer's verdict.

Scoring is deliberately conservative: an explicit declaration ("Answer: B", "the
answer is (C)") is trusted, the last one winning; a bare label is only believed
at the very end of the reply; anything else is "unparseable" rather than a guess,
because a guessed label silently turns a formatting failure into a wrong answer.

The reader works on any `Task` with labelled choices or a free-form BBH answer, so
MMLU-Pro and the field-map banks score with it too; `bbh` builds its gold answers with
the same normalisation (`free_form_answer`, `fold`), so gold and reply compare alike.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from .task import Task, as_task, verdict

_NUMERIC = frozenset({"multistep_arithmetic_two", "object_counting"})


def fold(text: str) -> str:
    """Comparison key for choice texts: case, spacing and trailing punctuation don't count."""
    return " ".join(text.split()).strip(" .!?;:,").casefold()



# "Answer:", "the answer is", "final answer:", "correct choice is", "best option would be".
_DECL_RE = re.compile(
    r"(?:\b(?:(?:final|correct|right|best)\s+)?answer(?:\s+(?:choice|option))?"
    r"|\b(?:final|correct|right|best)\s+(?:choice|option))"
    r"(?:(?P<colon>[ \t]*:|[ \t]+[-\u2013\u2014](?=[ \t]))"
    r"|[ \t]+(?:is|would\s+be|should\s+be|will\s+be)\b[ \t]*:?)"
    r"[ \t]*(?:(?:therefore|thus|then|clearly|option|choice|letter)\b[ \t]*:?[ \t]*)?",
    re.I,
)
# What may follow an answer token for it to be the whole answer, not a sentence's start.
_END = r"(?=\s*$|\s*[.,;:!?)\]\"'*`\u201d\u2019]|\s+(?:because|since|as)\b|\s+[-\u2013\u2014])"
_PAREN_LABEL_RE = re.compile(r"\(([A-Za-z])\)")
# A bare letter: upper or lower case ("Answer: b"), never a word's first letter, and never
# the article in "the answer is a bit unclear" (the `_END` look-ahead).
_BARE_LABEL_RE = re.compile(r"([A-Za-z])" + _END)
_QUOTES = " \t\"'`*_$"
_LATEX_RE = re.compile(r"\\(?:boxed|text|textbf|textrm|mathrm|mathbf)\s*\{([^{}]*)\}")
# `\boxed{…}` in any dress ($…$, \(…\), \text{…} inside, a label in parentheses): the
# LaTeX way of declaring an answer, believed wherever it stands.
_BOXED_RE = re.compile(r"\\boxed\s*\{((?:[^{}]|\{[^{}]*\})*)\}")
_DOUBT_RE = re.compile(r"\b(?:whether|if|unless|not\s+sure|doubt\w*|maybe|perhaps)\W*"
                       r"(?:option\s+|choice\s+)?\(?\w?\)?\W*$", re.I)
# "(A) is correct", "Option C is correct", "B is the right answer": a label said to be right.
_CORRECT_RE = re.compile(
    r"(?:\b(?:option|choice)[ \t]+\(?(?P<opt>[A-Za-z])\)?|\((?P<par>[A-Za-z])\)"
    r"|\b(?P<bare>(?-i:[A-Z])))[ \t]+is[ \t]+(?:the[ \t]+)?(?:correct|right|best)\b", re.I)


def _choice_from(cand: str, task: Task, lower: bool = True) -> str | None:
    """The label a declared answer names: '(B)', 'B', or a choice's text.

    A bare lower-case letter ('b') only when `lower`: after "Answer:" it is a label, after
    "the answer is" it may be the article ("the answer is a …" cut short).
    """
    cand = cand.strip(_QUOTES)
    labels = {lab for lab, _ in task.choices}
    if (m := _PAREN_LABEL_RE.match(cand)) and m.group(1).upper() in labels:
        return m.group(1).upper()
    if (m := _BARE_LABEL_RE.match(cand)) and m.group(1).upper() in labels \
            and (lower or m.group(1).isupper()):
        return m.group(1).upper()
    best: tuple[int, str] | None = None
    for lab, txt in task.choices:
        # one-character texts only match exactly, so the article "a" is never a choice
        flags = re.I if len(txt) > 1 else 0
        if re.match(re.escape(txt) + _END, cand, flags) and (best is None or len(txt) > best[0]):
            best = (len(txt), lab)
    return best[1] if best else None


def free_form_answer(subtask: str, text: str) -> str | None:
    """Normalised free-form answer, or None if it isn't one.

    Whitespace collapsed, quotes and a trailing period stripped. Numbers (arithmetic,
    counting) compare as decimals, so "24", "24.0" and "1,024"/"1024" agree; Dyck
    sequences compare bracket by bracket ("]]" == "] ]"); word lists ignore case and
    commas. A candidate of the wrong shape is None, so "the answer is straightforward"
    never becomes an answer for a numeric or bracket task.
    """
    s = " ".join(text.split()).strip(_QUOTES).rstrip(".").strip(_QUOTES)
    if subtask in _NUMERIC:
        s = s.replace("\u2212", "-").replace(",", "").split("=")[-1].strip(_QUOTES)
        if not re.fullmatch(r"[-+]?\d+(?:\.\d+)?", s):
            return None
        try:
            d = Decimal(s)
        except InvalidOperation:
            return None
        return str(int(d)) if d == d.to_integral_value() else str(d.normalize())
    if subtask == "dyck_languages":
        if not re.fullmatch(r"[\[\](){}<>\s]+", s):
            return None
        return " ".join(ch for ch in s if not ch.isspace())
    if subtask == "word_sorting":
        s = " ".join(s.replace(",", " ").split()).casefold()
    return s or None


def _declared(text: str, task: Task) -> str | None:
    """The last explicit declaration that names a valid answer, if any.

    Three kinds, the last in the text winning: an answer phrase ("Answer: B", "the
    answer is (C)", "Answer - E"), a `\\boxed{}`, and a label said to be correct
    ("Option C is correct"). word_sorting believes only the requested line's form
    ("Answer: …") or a box, since any sentence can follow "the answer is".
    """
    found = [*_phrased(text, task), *_boxed(text, task)]
    if task.choices:
        found += _said_correct(text, task)
    return max(found)[1] if found else None


def _read(cand: str, task: Task, lower: bool = True) -> str | None:
    """A candidate answer text as the task's answer: a label, or normalised free form."""
    for _ in range(3):   # nested "\\boxed{\\text{B}}" unwraps layer by layer
        cand = _LATEX_RE.sub(r"\1", cand)
    if task.choices:
        return _choice_from(cand, task, lower)
    got = free_form_answer(task.subtask, cand)
    if got is not None and task.subtask == "word_sorting" and not _listed(got, task):
        return None
    return got


# The few-shot CoT protocol's closing sentence ("… So the answer is X."): a declaration
# word_sorting believes too, as the exemplars end every answer with it.
_COT_CLOSE = re.compile(r"(?:^|[.\s])So the $", re.I)


def _phrased(text: str, task: Task) -> list[tuple[int, str]]:
    found = []
    for m in _DECL_RE.finditer(text):
        if task.subtask == "word_sorting" and m.group("colon") is None \
                and not _COT_CLOSE.search(text, 0, m.start()):
            continue
        line_end = text.find("\n", m.end())
        cand = text[m.end() : None if line_end < 0 else line_end]
        if not cand.strip(_QUOTES) and line_end >= 0:  # "Answer:\n(B)"
            cand = text[line_end + 1 :].lstrip().split("\n", 1)[0]
        got = _read(cand, task, lower=m.group("colon") is not None)
        if got is not None:
            found.append((m.start(), got))
    return found


def _boxed(text: str, task: Task) -> list[tuple[int, str]]:
    found = []
    for m in _BOXED_RE.finditer(text):
        got = _read(m.group(1).strip(), task)
        if got is not None:
            found.append((m.start(), got))
    return found


def _said_correct(text: str, task: Task) -> list[tuple[int, str]]:
    labels = {lab for lab, _ in task.choices}
    found = []
    for m in _CORRECT_RE.finditer(text):
        if _DOUBT_RE.search(text[max(m.start() - 24, 0) : m.start()]):
            continue   # "not sure whether (A) is correct" says nothing
        label = (m.group("opt") or m.group("par") or m.group("bare")).upper()
        if label in labels:
            found.append((m.start(), label))
    return found


def _listed(answer: str, task: Task) -> bool:
    """Whether a word_sorting answer uses only the words of the task's list (when the
    question has a `List:`), so a sentence after "Answer:" is not taken for a list."""
    _, sep, listed = task.question.partition("List:")
    if not sep:
        return bool(re.fullmatch(r"[\w'&.-]+(?: [\w'&.-]+)*", answer))
    return set(answer.split()) <= set(listed.casefold().replace(",", " ").split())


def _positional(text: str, task: Task) -> str | None:
    """A label (or a choice's text) alone on one of the last three non-empty lines.

    Only trusted at the end and only alone: a lone "(B)" early in the reply, or a label
    ending a sentence ("…so it is not (A)."), is usually reasoning, not the answer.
    """
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()][-3:]
    if not task.choices:
        if task.subtask in _NUMERIC or task.subtask == "dyck_languages":
            return free_form_answer(task.subtask, lines[-1]) if lines else None
        return None
    labels = {lab for lab, _ in task.choices}
    folded = {fold(txt): lab for lab, txt in task.choices}
    for line in reversed(lines):
        bare = line.strip(_QUOTES).rstrip(".:!").strip(_QUOTES)
        if (m := re.fullmatch(r"\(?([A-Za-z])\)?", bare)) and m.group(1).upper() in labels:
            return m.group(1).upper()
        if len(bare) > 1 and fold(bare) in folded:
            return folded[fold(bare)]
    return None


def extract_answer(output: str, task: Task | dict[str, Any]) -> str | None:
    """The model's answer: a choice label, or normalised text for free-form items.

    Markdown bold is dropped first so "**Answer: B**" reads as "Answer: B".
    """
    t = as_task(task)
    text = re.sub(r"\*\*|__", "", output or "")
    got = _declared(text, t)
    return got if got is not None else _positional(text, t)


def score(output: str, task: Task | dict[str, Any]) -> tuple[bool, str]:
    """(passed, detail) with detail exactly "passed", "expected X got Y" or "unparseable"."""
    t = as_task(task)
    return verdict(extract_answer(output, t), t)
