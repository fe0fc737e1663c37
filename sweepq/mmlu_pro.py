"""MMLU-Pro: load questions through `datasets`, and score a reply's letter.

The data is `TIGER-Lab/MMLU-Pro` (splits `test`, 12,032 questions, and `validation`, 70)
or a local copy in the data set's own format: parquet or JSON (a list of records, or
JSON lines) with the columns `COLUMNS`, as one file or a directory of per-split files
named `<split>-*.parquet` / `<split>*.json[l]` (the hub's layout). A single file is the
split itself.

The facts follow the team's harness: 14 categories; up to ten options labelled A-J;
within a category, questions in `question_id` order, `start` and `n_per_category`
applied to that order; task ids `mmlu_pro/<category slug>/<question_id>` where the slug
is the category lower-cased with runs of spaces as `_`; and the scorer of BBH's
multiple-choice items (`passed`, `expected X got Y`, `unparseable`; a letter the
question does not offer is unparseable), which the team's harness also used, with the
forms it trusted that sweepq's BBH reader leaves alone (a boxed letter, "option C is
correct") read only when nothing else is. A row that cannot be a question (no options,
more than ten, a gold letter outside its labels or disagreeing with `answer_index`)
stops the load with one line naming it: a silently skipped row would change the sweep.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sweepq import bbh, bbh_answers, hfdata
from sweepq.errors import SweepqError
from sweepq.task import Task

HF_DATASET = "TIGER-Lab/MMLU-Pro"
SPLITS = ("test", "validation")
BENCHMARK = "mmlu_pro"
LABELS = string.ascii_uppercase[:10]
COLUMNS = ("question_id", "question", "options", "answer", "answer_index", "cot_content",
           "category", "src")
CATEGORIES: tuple[str, ...] = (
    "biology", "business", "chemistry", "computer science", "economics", "engineering",
    "health", "history", "law", "math", "other", "philosophy", "physics", "psychology",
)


@dataclass(frozen=True)
class Question:
    """One MMLU-Pro question, self-contained: what a job needs to ask and to score."""

    task_id: str
    category: str
    question_id: int
    question: str
    options: tuple[str, ...]
    gold: str
    src: str = ""

    @property
    def options_labels(self) -> str:
        """The letters this question offers: A up to its last option."""
        return LABELS[: len(self.options)]

    @property
    def choices(self) -> tuple[tuple[str, str], ...]:
        """(label, option) pairs, A first."""
        return tuple(zip(LABELS, self.options, strict=False))

    def payload(self) -> dict[str, Any]:
        """A JSON-able dict for a job's payload (options as a list)."""
        return {**asdict(self), "options": list(self.options)}

    @classmethod
    def from_payload(cls, d: dict[str, Any]) -> Question:
        """Inverse of `payload()`."""
        return cls(task_id=str(d["task_id"]), category=str(d["category"]),
                   question_id=int(d["question_id"]), question=str(d["question"]),
                   options=tuple(str(o) for o in d["options"]), gold=str(d["gold"]),
                   src=str(d.get("src") or ""))


def category_slug(category: str) -> str:
    """The category as it appears in task ids: `computer science` -> `computer_science`."""
    return re.sub(r"\s+", "_", category.strip().lower())


def task_id(category: str, question_id: int) -> str:
    return f"{BENCHMARK}/{category_slug(category)}/{question_id}"


def select_categories(names: str | Sequence[str]) -> list[str]:
    """Category names from names or slugs, comma-separated or a list; `all` is all 14."""
    if isinstance(names, str):
        names = names.split(",")
    wanted = [n.strip() for n in names if n.strip()]
    if [n.lower() for n in wanted] == ["all"]:
        return list(CATEGORIES)
    by_slug = {category_slug(c): c for c in CATEGORIES}
    chosen, unknown = [], []
    for name in wanted:
        found = by_slug.get(category_slug(name))
        (chosen if found else unknown).append(found or name)
    if unknown or not chosen:
        raise SweepqError(
            f"unknown MMLU-Pro categor{'y' if len(unknown) == 1 else 'ies'} "
            f"{', '.join(map(repr, unknown)) or '(none given)'}; name some of "
            f"{', '.join(map(category_slug, CATEGORIES))}, or all"
        )
    return list(dict.fromkeys(chosen))


def _refuse(row: dict[str, Any], problem: str) -> SweepqError:
    where = f"question_id {row.get('question_id')!r} ({row.get('category')!r})"
    return SweepqError(f"MMLU-Pro row {where} {problem}; fix or remove that row of the data")


def question_from_row(row: dict[str, Any]) -> Question:
    """A `Question` from one row of the data set; `SweepqError` naming the row if it can't be."""
    missing = [c for c in ("question_id", "question", "options", "answer", "category")
               if row.get(c) is None]
    if missing:
        raise _refuse(row, f"lacks {', '.join(missing)}")
    options = tuple(str(o) for o in row["options"])
    if not options:
        raise _refuse(row, "has no options")
    if len(options) > len(LABELS):
        raise _refuse(row, f"has {len(options)} options; MMLU-Pro has at most {len(LABELS)}")
    labels = LABELS[: len(options)]
    gold = str(row["answer"]).strip().strip("()").upper()
    if gold not in labels:
        raise _refuse(row, f"has gold {row['answer']!r} outside its labels A-{labels[-1]}")
    index = row.get("answer_index")
    if index is not None and int(index) != labels.index(gold):
        raise _refuse(row, f"has answer {gold} but answer_index {index}")
    category = str(row["category"])
    return Question(task_id=task_id(category, int(row["question_id"])), category=category,
                    question_id=int(row["question_id"]), question=str(row["question"]),
                    options=options, gold=gold, src=str(row.get("src") or ""))


def _files(root: Path, split: str) -> tuple[str, list[str]]:
    """(datasets builder, files) for a local copy: one file, or a directory's split files."""
    if root.is_file():
        files = [root]
    else:
        files = sorted(p for p in root.rglob(f"{split}*") if p.is_file()
                       and p.suffix in (".parquet", ".json", ".jsonl"))
    if not files:
        raise SweepqError(
            f"no {split} split in {root}; pass `dataset` PATH to a parquet or JSON file of "
            f"MMLU-Pro, or a directory with {split}-*.parquet or {split}*.json[l] files"
        )
    kinds = {"parquet" if p.suffix == ".parquet" else "json" for p in files}
    if len(kinds) > 1:
        raise SweepqError(f"{root} mixes parquet and JSON files for {split}; keep one kind")
    return kinds.pop(), [str(p) for p in files]


def _dataset(split: str, dataset: str | None) -> Any:
    if dataset is None:
        return hfdata.hub(HF_DATASET, split, "a parquet or JSON copy")
    root = Path(dataset).expanduser()
    if not root.exists():
        raise SweepqError(f"dataset {dataset} does not exist; pass `dataset` PATH to a "
                          "parquet or JSON copy of MMLU-Pro")
    builder, paths = _files(root, split)
    return hfdata.files(builder, paths, f"MMLU-Pro with the columns {', '.join(COLUMNS)}")


def _check_counts(split: str, n_per_category: int | None, start: int) -> None:
    if split not in SPLITS:
        raise SweepqError(f"unknown MMLU-Pro split {split!r}; use test or validation")
    if n_per_category is not None and n_per_category < 1:
        raise SweepqError(f"n_per_category must be at least 1 (got {n_per_category})")
    if start < 0:
        raise SweepqError(f"start must be 0 or more (got {start})")


def load(categories: str | Sequence[str], *, split: str = "test",
         dataset: str | None = None, n_per_category: int | None = None,
         start: int = 0) -> list[Question]:
    """Questions of each category in the order given, each in `question_id` order,
    `[start, start + n_per_category)` of it (all from `start` when n is None)."""
    names = select_categories(categories)
    _check_counts(split, n_per_category, start)
    ds = _dataset(split, dataset)
    absent = [c for c in ("question_id", "category", "options", "answer")
              if c not in ds.column_names]
    if absent:
        raise SweepqError(f"the MMLU-Pro data lacks the column(s) {', '.join(absent)}; it "
                          f"needs {', '.join(COLUMNS)}")
    by_category: dict[str, list[Question]] = {c: [] for c in names}
    for row in ds:
        if row["category"] in by_category:  # every row of a chosen category is checked
            by_category[row["category"]].append(question_from_row(row))
    out: list[Question] = []
    for name in names:
        ordered = sorted(by_category[name], key=lambda q: q.question_id)[start:]
        out.extend(ordered[:n_per_category])
    return out


def _as_bbh(q: Question) -> Task:
    """The question as a multiple-choice BBH item, whose extraction the team's scorer shared."""
    return Task(task_id=q.task_id, subtask=category_slug(q.category), index=q.question_id,
                    question=q.question, choices=q.choices, target=q.gold, answer=q.gold,
                    prompt="")


# Forms the team's scorer trusted that BBH's declaration reader does not: a boxed letter
# (math-tuned models) and "option C is correct" / "therefore C is right". The letter must
# be a capital: "so a is correct" is prose.
_FALLBACKS = (
    re.compile(r"\\boxed\s*\{\s*\(?([A-J])\)?\s*\}"),
    re.compile(r"\b(?:option|choice)\s+\(?([A-J])\)?\s+(?:is\s+)?(?:correct|best|right)\b",
               re.I),
    re.compile(r"\b(?:therefore|so|thus),?\s+\(?([A-J])\)?\s+(?:is\s+)?(?:correct|best|right)\b",
               re.I),
)


def _fallback(output: str, question: Question) -> str | None:
    """The last of the team's extra forms naming one of the question's labels."""
    best: tuple[int, str] | None = None
    for pattern in _FALLBACKS:
        for m in pattern.finditer(output or ""):
            if m.group(1) in question.options_labels and (best is None or m.start() > best[0]):
                best = (m.start(), m.group(1))
    return best[1] if best else None


def extract_answer(output: str, question: Question) -> str | None:
    """The letter the reply declares, if it is one of the question's labels.

    BBH's reader first (an explicit declaration, the last one winning; a lone label at
    the very end); only if it finds nothing, the team's extra forms (`_FALLBACKS`)."""
    got = bbh_answers.extract_answer(output, _as_bbh(question))
    return got if got is not None else _fallback(output, question)


def score(output: str, question: Question) -> tuple[bool, str]:
    """(passed, detail): `passed`, `expected X got Y` or `unparseable`, as the team wrote.

    BBH's scorer makes the detail; a reply read by a fallback form is handed to it as the
    answer line it amounts to, so the words come from one place."""
    task = _as_bbh(question)
    if bbh_answers.extract_answer(output, task) is None and (got := _fallback(output, question)):
        output = bbh.format_answer(got)
    return bbh_answers.score(output, task)
