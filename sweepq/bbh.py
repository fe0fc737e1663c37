"""BIG-Bench Hard: load tasks, build prompts, extract and score answers.

Two sources, both read through `datasets.load_dataset` so a sweep's data source is
one switch: the Hugging Face copy the historical runner used (`HF_DATASET`, one
config per subtask) or a directory of upstream BBH JSON files (`--dataset PATH`).
Both are turned into the same `Task`, whose `payload()` is what the jobs table
stores, so scoring never needs the dataset again.

Scoring is deliberately conservative: an explicit declaration ("Answer: B", "the
answer is (C)") is trusted, the last one winning; a bare label is only believed
at the very end of the reply; anything else is "unparseable" rather than a guess,
because a guessed label silently turns a formatting failure into a wrong answer.

Why this module is long (~520 lines): building a prompt, loading a subtask and
scoring a reply are three sections of one contract (the labels a prompt offers
are the labels the scorer believes, `prompt_labels`/`declared_answers`), and the
fake API asks this module for them. A split into loading and scoring is the next
step once the prompt-set work (issue 14) that is changing this file has landed.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sweepq import prompts, templates
from sweepq.errors import SweepqError

HF_DATASET = "Joschka/big_bench_hard"
ALL = "all"  # `--subtasks all`: every subtask, in SUBTASKS order

SUBTASKS: tuple[str, ...] = (
    "boolean_expressions",
    "causal_judgement",
    "date_understanding",
    "disambiguation_qa",
    "dyck_languages",
    "formal_fallacies",
    "geometric_shapes",
    "hyperbaton",
    "logical_deduction_five_objects",
    "logical_deduction_seven_objects",
    "logical_deduction_three_objects",
    "movie_recommendation",
    "multistep_arithmetic_two",
    "navigate",
    "object_counting",
    "penguins_in_a_table",
    "reasoning_about_colored_objects",
    "ruin_names",
    "salient_translation_error_detection",
    "snarks",
    "sports_understanding",
    "temporal_sequences",
    "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects",
    "tracking_shuffled_objects_three_objects",
    "web_of_lies",
    "word_sorting",
)

FREE_FORM: frozenset[str] = frozenset(
    {"dyck_languages", "multistep_arithmetic_two", "object_counting", "word_sorting"}
)

# Binary subtasks whose upstream input has no options block: they still become
# two labelled choices so that every non-free-form item is scored by label.
_IMPLICIT_CHOICES: dict[str, tuple[str, str]] = {
    "boolean_expressions": ("True", "False"),
    "web_of_lies": ("Yes", "No"),
    "sports_understanding": ("Yes", "No"),
}

_NUMERIC = frozenset({"multistep_arithmetic_two", "object_counting"})
_LETTERS = string.ascii_uppercase

# The shapes a prompt is built from. Code that must recognise a prompt or write a reply
# to one (the fake API) uses these through `prompt_labels`, `format_answer` and
# `declared_answers`, never a copy. The option line is the default set's
# (prompts/default.toml); the answer line is what its templates ask models to end with
# (a test holds the two together).
OPTION_LINE = prompts.default_set().get("task.option")
ANSWER_LINE = "Answer: {answer}"


@dataclass(frozen=True)
class Task:
    """One BBH item, self-contained: everything a worker or scorer needs."""

    task_id: str
    subtask: str
    index: int
    question: str
    choices: tuple[tuple[str, str], ...]
    target: str
    answer: str
    prompt: str
    # The input as the data gave it, its own `Options:` block included ({raw_question});
    # "" for a payload stored before it was kept: the question then stands in.
    raw_question: str = ""
    # What another benchmark adds (`sweepq.benchmarks`): its name under `benchmark`, and
    # what its renderer and scorer read (a HumanEval problem's test). Stored flat in the
    # payload beside the fields above; empty for BBH, whose payloads stay as they were.
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def payload(self) -> dict[str, Any]:
        """A JSON-able dict (choices as lists) for the jobs table."""
        d = asdict(self)
        d["choices"] = [list(c) for c in self.choices]
        return {**d.pop("extra"), **d}

    @classmethod
    def from_payload(cls, d: dict[str, Any]) -> Task:
        """Inverse of `payload()`; accepts the lists JSON turns tuples into."""
        return cls(
            task_id=str(d["task_id"]),
            subtask=str(d["subtask"]),
            index=int(d["index"]),
            question=str(d["question"]),
            choices=tuple((str(lab), str(txt)) for lab, txt in d["choices"]),
            target=str(d["target"]),
            answer=str(d["answer"]),
            prompt=str(d["prompt"]),
            raw_question=str(d.get("raw_question") or d["question"]),
            extra={k: v for k, v in d.items() if k not in _FIELDS},
        )


_FIELDS = frozenset(f.name for f in fields(Task))


# --------------------------------------------------------------------------- building

_OPTIONS_RE = re.compile(r"^Options:[ \t]*$", re.M)
_LABELLED_RE = re.compile(r"^\(([A-Z])\)\s*(.*)$")
_BULLET_RE = re.compile(r"^-\s*(.*)$")


def _split_options(text: str) -> tuple[str, list[tuple[str | None, str]]]:
    """Split upstream `input` into the question and its `Options:` block, if any."""
    matches = list(_OPTIONS_RE.finditer(text))
    if not matches:
        return text.strip(), []
    m = matches[-1]
    choices: list[tuple[str | None, str]] = []
    for line in text[m.end() :].splitlines():
        line = line.strip()
        if not line:
            continue
        if lm := _LABELLED_RE.match(line):
            choices.append((lm.group(1), lm.group(2).strip()))
        elif bm := _BULLET_RE.match(line):
            choices.append((None, bm.group(1).strip()))
        elif choices:  # a wrapped option: continuation of the previous one
            lab, txt = choices[-1]
            choices[-1] = (lab, f"{txt} {line}")
    return text[: m.start()].strip(), choices


def _norm_label(raw: object, position: int) -> str:
    """'(B)', 'b', 'B' -> 'B'; anything else falls back to the letter for its position."""
    s = str(raw or "").strip().strip("(). ").upper()
    return s if len(s) == 1 and s in _LETTERS else _LETTERS[position]


def _fold(text: str) -> str:
    """Comparison key for choice texts: case, spacing and trailing punctuation don't count."""
    return " ".join(text.split()).strip(" .!?;:,").casefold()


def _resolve_gold(
    subtask: str, index: int, choices: list[tuple[str, str]], target: str
) -> tuple[list[tuple[str, str]], str]:
    """Map the gold target to a label, repairing the rare option split on commas.

    A label-shaped target ("(A)", or a bare label letter) is a label first, even if
    another choice's *text* is that letter. Three upstream items (movie_recommendation,
    ruin_names) split an option such as "Monsters, Inc" into several options and give
    the gold as text; those runs are merged back into one option and relabelled.
    """
    labels = [lab for lab, _ in choices]
    t = target.strip()
    m = re.fullmatch(r"\(([A-Za-z])\)", t)
    if m and m.group(1).upper() in labels:
        return choices, m.group(1).upper()
    if len(t) == 1 and t in labels:
        return choices, t
    key = _fold(t)
    for lab, txt in choices:
        if _fold(txt) == key:
            return choices, lab
    for i in range(len(choices)):
        for j in range(i + 2, len(choices) + 1):
            if _fold(", ".join(txt for _, txt in choices[i:j])) == key:
                merged = [txt for _, txt in choices[:i]] + [t] + [txt for _, txt in choices[j:]]
                return [(_LETTERS[k], txt) for k, txt in enumerate(merged)], _LETTERS[i]
    raise SweepqError(
        f"bbh/{subtask}/{index}: gold {target!r} matches no option "
        f"({', '.join(labels)}); fix or drop this example in the data"
    )


def _build_prompt(subtask: str, question: str, choices: Sequence[tuple[str, str]]) -> str:
    """The prompt a task is stored with: the built-in default set's rendering.

    A sweep's jobs render their prompt again from its stored set (`arms.for_sweep`).
    """
    return prompts.default_set().task_prompt(subtask, question, choices)


def prompt_labels(prompt: str) -> list[str]:
    """The choice labels of a prompt built here (lines shaped like `OPTION_LINE`), in order.

    Empty for a free-form prompt. The pattern is derived from `OPTION_LINE` when called,
    so it follows the template wherever it is changed.
    """
    option = templates.pattern(OPTION_LINE, label="[A-Z]", text="[^\n]*")
    lines = re.compile(f"^{option.pattern}$", re.M)
    return [m.group("label") for m in lines.finditer(prompt)]


def format_answer(answer: str) -> str:
    """The final line a prompt built here asks a model to end with."""
    return ANSWER_LINE.format(answer=answer)


def declared_answers(text: str) -> list[str]:
    """Every answer declared on an `ANSWER_LINE`-shaped line of `text`, in order, stripped.

    A literal reading for comparing two replies; scoring uses the more forgiving
    `extract_answer`.
    """
    line = templates.pattern(ANSWER_LINE, answer="[^\n]+")
    return [m.group("answer").strip() for m in line.finditer(text)]


def make_task(
    subtask: str,
    index: int,
    question: str,
    target: str,
    choices: Sequence[tuple[str | None, str]] = (),
) -> Task:
    """Build a Task from either source's fields.

    If no choices are given, an `Options:` block in the question supplies them; the
    binary subtasks without one get their implicit pair. Unlabelled choices get A, B, ….
    """
    raw_question = question.strip()
    question, parsed = _split_options(question)
    raw = list(choices) or parsed
    if not raw and subtask in _IMPLICIT_CHOICES:
        raw = [(None, txt) for txt in _IMPLICIT_CHOICES[subtask]]
    target = str(target)
    if subtask in FREE_FORM or not raw:
        labelled: list[tuple[str, str]] = []
        answer = _norm_free(subtask, target)
        if answer is None:
            raise SweepqError(
                f"bbh/{subtask}/{index}: gold {target!r} is not a valid {subtask} answer; "
                "fix or drop this example in the data"
            )
    else:
        labelled = [(_norm_label(lab, i), str(txt).strip()) for i, (lab, txt) in enumerate(raw)]
        labelled, answer = _resolve_gold(subtask, index, labelled, target)
    return Task(
        task_id=f"bbh/{subtask}/{index}",
        subtask=subtask,
        index=index,
        question=question,
        choices=tuple(labelled),
        target=target,
        answer=answer,
        prompt=_build_prompt(subtask, question, labelled),
        raw_question=raw_question,
    )


def task_from_upstream_row(subtask: str, index: int, row: dict[str, Any]) -> Task:
    """Upstream BBH JSON row: `{"input": ..., "target": ...}`."""
    return make_task(subtask, index, row["input"], row["target"])


def task_from_hf_row(subtask: str, index: int, row: dict[str, Any]) -> Task:
    """Hugging Face row: `question`, `choices` = `{"label": [...], "text": [...]}`, `target`."""
    ch = row.get("choices") or {}
    texts = list(ch.get("text") or [])
    labels = list(ch.get("label") or [])
    labels = (labels + [None] * len(texts))[: len(texts)]
    choices = list(zip(labels, texts, strict=True))
    return make_task(subtask, index, row["question"], row["target"], choices)


# --------------------------------------------------------------------------- loading


def expand_subtasks(names: Sequence[str]) -> list[str]:
    """`all` alone is every BBH subtask in canonical order; other lists are as given."""
    return list(SUBTASKS) if list(names) == [ALL] else list(names)


def _check_args(subtasks: Sequence[str], n_per_subtask: int, start: int) -> list[str]:
    if isinstance(subtasks, str):
        subtasks = [s for s in subtasks.split(",") if s.strip()]
    names = expand_subtasks(list(dict.fromkeys(s.strip() for s in subtasks)))
    if not names:
        raise SweepqError("no subtasks given; name at least one BBH subtask, e.g. navigate")
    unknown = [s for s in names if s not in SUBTASKS]
    if unknown:
        raise SweepqError(
            f"unknown BBH subtask {', '.join(map(repr, unknown))}; known subtasks are "
            f"{', '.join(SUBTASKS)} (or `all`)"
        )
    if n_per_subtask < 1:
        raise SweepqError(
            f"n_per_subtask must be at least 1 (got {n_per_subtask}); pass a positive n"
        )
    if start < 0:
        raise SweepqError(f"start must be 0 or more (got {start}); pass a non-negative start")
    return names


def _local_dataset(root: Path, subtask: str) -> Any:
    import datasets

    file = root / f"{subtask}.json"
    if not file.is_file():
        raise SweepqError(
            f"{file} not found; pass `dataset` PATH to a directory holding <subtask>.json files"
        )
    try:
        return datasets.load_dataset("json", data_files=str(file), field="examples", split="train")
    except Exception as e:  # datasets wraps JSON/schema errors in many types
        raise SweepqError(
            f"cannot read {file} ({type(e).__name__}); it must be upstream BBH JSON "
            '({"examples": [{"input": ..., "target": ...}]})'
        ) from None


def _hub_reachable(subtask: str) -> None:
    """Refuse at once a subtask that is neither in the local cache nor reachable."""
    from sweepq import hub

    missing = hub.unavailable(HF_DATASET, subtask)
    if missing is not None:
        raise SweepqError(f"BBH subtask {subtask} of {HF_DATASET} {missing}: pass `dataset` "
                          "PATH (a folder of BBH JSON files, <subtask>.json, such as "
                          "../shared/bbh) or go online")


def _hub_dataset(subtask: str) -> Any:
    """The hub copy (`load_tasks` has refused one neither cached nor reachable); every
    network/offline failure is one actionable line too."""
    import datasets

    from sweepq import hub

    try:
        return hub.quietly(lambda: datasets.load_dataset(HF_DATASET, subtask, split=subtask))
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as e:
        # ConnectionError/OfflineModeIsEnabled, HTTP errors and DatasetNotFoundError
        # are all OSErrors; ValueError covers a missing config or split.
        raise SweepqError(
            f"cannot load {HF_DATASET} ({subtask}) from the Hugging Face hub "
            f"({type(e).__name__}); pass `dataset` PATH (a directory of BBH JSON files) "
            "or go online"
        ) from None


def load_tasks(
    subtasks: Sequence[str],
    n_per_subtask: int,
    start: int = 0,
    dataset: str | None = None,
) -> list[Task]:
    """Tasks `[start, start + n_per_subtask)` of each subtask, in the order given.

    Fewer are returned for a subtask that runs out; a `start` at or past a subtask's
    end is an error because it would silently enqueue nothing for it.
    `datasets` is imported here, not at module import, so commands that only score
    or report don't pay for it.
    """
    names = _check_args(subtasks, n_per_subtask, start)
    if dataset is None:  # before `datasets` is imported (a second): refusals come at once
        for subtask in names:
            _hub_reachable(subtask)
    import datasets

    datasets.disable_progress_bars()
    root: Path | None = None
    if dataset is not None:
        root = Path(dataset).expanduser()
        if not root.is_dir():
            raise SweepqError(
                f"dataset directory {dataset} does not exist; pass `dataset` PATH "
                "(a directory of BBH JSON files such as ../shared/bbh)"
            )
    tasks: list[Task] = []
    for subtask in names:
        ds = _hub_dataset(subtask) if root is None else _local_dataset(root, subtask)
        if start >= len(ds):
            raise SweepqError(
                f"start {start} is beyond {subtask}'s {len(ds)} examples; "
                f"use a start below {len(ds)}"
            )
        cols = ds[start : start + n_per_subtask]
        rows = [dict(zip(cols, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]
        adapt = task_from_hf_row if root is None else task_from_upstream_row
        try:
            tasks.extend(adapt(subtask, start + i, row) for i, row in enumerate(rows))
        except KeyError as e:
            raise SweepqError(
                f"{subtask}: rows lack the column {e}; the data is not in BBH format"
            ) from None
    return tasks


# --------------------------------------------------------------------------- answers

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


def _as_task(task: Task | dict[str, Any]) -> Task:
    return task if isinstance(task, Task) else Task.from_payload(task)


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


def _norm_free(subtask: str, text: str) -> str | None:
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
    got = _norm_free(task.subtask, cand)
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
            return _norm_free(task.subtask, lines[-1]) if lines else None
        return None
    labels = {lab for lab, _ in task.choices}
    folded = {_fold(txt): lab for lab, txt in task.choices}
    for line in reversed(lines):
        bare = line.strip(_QUOTES).rstrip(".:!").strip(_QUOTES)
        if (m := re.fullmatch(r"\(?([A-Za-z])\)?", bare)) and m.group(1).upper() in labels:
            return m.group(1).upper()
        if len(bare) > 1 and _fold(bare) in folded:
            return folded[_fold(bare)]
    return None


def extract_answer(output: str, task: Task | dict[str, Any]) -> str | None:
    """The model's answer: a choice label, or normalised text for free-form items.

    Markdown bold is dropped first so "**Answer: B**" reads as "Answer: B".
    """
    t = _as_task(task)
    text = re.sub(r"\*\*|__", "", output or "")
    got = _declared(text, t)
    return got if got is not None else _positional(text, t)


def score(output: str, task: Task | dict[str, Any]) -> tuple[bool, str]:
    """(passed, detail) with detail exactly "passed", "expected X got Y" or "unparseable"."""
    t = _as_task(task)
    got = extract_answer(output, t)
    if got is None:
        return False, "unparseable"
    if got == t.answer:
        return True, "passed"
    return False, f"expected {t.answer} got {got}"
