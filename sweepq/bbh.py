"""BIG-Bench Hard as tasks: its subtasks, its items built into `Task`s, their loading.

Two sources, both read through `datasets.load_dataset` so a sweep's data source is
one switch: the Hugging Face copy the historical runner used (`HF_DATASET`, one
config per subtask) or a directory of upstream BBH JSON files (`--dataset PATH`).
Both are turned into the same `Task`, whose `payload()` is what the jobs table
stores, so scoring never needs the dataset again.

The shape of a prompt built here (`prompt_labels`, `format_answer`, `declared_answers`)
is the contract the fake API answers by; reading answers out of a reply and scoring
them is `bbh_answers`, whose normalisation also gives each item its gold answer.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sweepq import prompts, templates
from sweepq.bbh_answers import fold, free_form_answer
from sweepq.bbh_answers import score as score  # the `sweepq` scorer, where users import it
from sweepq.errors import SweepqError
from sweepq.task import Task

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

_LETTERS = string.ascii_uppercase

# The shapes a prompt is built from. Code that must recognise a prompt or write a reply
# to one (the fake API) uses these through `prompt_labels`, `format_answer` and
# `declared_answers`, never a copy. The option line is the default set's
# (prompts/default.toml); the answer line is what its templates ask models to end with
# (a test holds the two together).
OPTION_LINE = prompts.default_set().get("task.option")
ANSWER_LINE = "Answer: {answer}"


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
    key = fold(t)
    for lab, txt in choices:
        if fold(txt) == key:
            return choices, lab
    for i in range(len(choices)):
        for j in range(i + 2, len(choices) + 1):
            if fold(", ".join(txt for _, txt in choices[i:j])) == key:
                merged = [txt for _, txt in choices[:i]] + [t] + [txt for _, txt in choices[j:]]
                return [(_LETTERS[k], txt) for k, txt in enumerate(merged)], _LETTERS[i]
    raise SweepqError(
        f"bbh/{subtask}/{index}: gold {target!r} matches no option "
        f"({', '.join(labels)}); fix or drop this example in the data"
    )


def _build_prompt(subtask: str, question: str, choices: Sequence[tuple[str, str]]) -> str:
    """The prompt a task is stored with: the built-in default set's rendering.

    A sweep's jobs render their prompt again from its stored set (`arm_registry.for_sweep`).
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
        answer = free_form_answer(subtask, target)
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


