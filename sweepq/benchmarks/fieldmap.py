"""Any question bank by a field map: `--benchmark jsonl|csv|hf --field question=COL ...`.

Why: a researcher with questions in a JSONL file, a spreadsheet or a hub data set runs a
sweep without writing a loader. The map names the columns:

- `question` (required) and `answer` (required: a label A, B…, a 0-based index or a
  choice's text when there are choices; otherwise the free-text answer);
- `choices`: one column holding a list, or several columns comma-separated (`A,B,C,D`);
- `id`: a column of unique task ids (default `<benchmark>/<row number>`);
- `subtask`: a column to group by (`summary --by subtask`, the `subtasks` selection);
  `summary` names the groups by that column (`--field subtask=topic`: "topic"), and
  calls them "group" when there is none (every row in one group).

Rows are read through `datasets` (the `json`, `csv` builders for files; the hub or a
local data-set folder for `hf`, with `split`). With choices the prompt is the set's
multiple-choice template and the `sweepq` scorer reads letters; without, its free-form
template and an exact match after whitespace and quotes are normalised. A row that cannot
be a question stops the load with one line naming it.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import bbh, bbh_answers, hfdata
from ..errors import SweepqError
from ..task import Task
from .protocol import ALL, Base, Selection

KEYS = ("question", "answer", "choices", "id", "subtask")
REQUIRED = ("question", "answer")
LABELS = string.ascii_uppercase
_FIELD_HELP = "KEY=COLUMN for question, answer, choices, id, subtask"


class FieldMap(Base):
    """One file format (`builder`) read by a field map."""

    def __init__(self, name: str, builder: str, options: Mapping[str, str]):
        self.name, self.builder, self.options = name, builder, options

    def group_label_for(self, options: Mapping[str, Any]) -> str:
        """The mapped `subtask` column's name, else "group" (one group of every row)."""
        column = dict(options.get("field") or {}).get("subtask")
        return str(column).strip() if column and str(column).strip() else "group"

    def groups(self, names: Sequence[str], options: Mapping[str, Any]) -> list[str]:
        fields = field_map(options.get("field"), self.name)
        if names and names != [ALL] and "subtask" not in fields:
            raise SweepqError("`subtasks` selects groups of the `field` subtask=COLUMN; "
                              "map one, or leave `subtasks` out for every row")
        return [] if names == [ALL] else list(dict.fromkeys(names))

    def load(self, selection: Selection) -> list[Task]:
        fields = field_map(selection.options.get("field"), self.name)
        rows = self._rows(selection)
        missing = sorted({c for col in fields.values() for c in col.split(",")}
                         - set(rows.column_names))
        if missing:
            raise SweepqError(f"the data has no column {', '.join(map(repr, missing))} named "
                              f"by `field`; its columns are {', '.join(rows.column_names)}")
        by_group: dict[str, list[Task]] = {}
        seen: set[str] = set()
        for i, row in enumerate(rows):
            task = self.task(i, row, fields)
            if task.task_id in seen:
                raise SweepqError(f"{self.name} row {i}: task id {task.task_id!r} appears "
                                  "twice; map `field` id=COLUMN to unique ids")
            seen.add(task.task_id)
            by_group.setdefault(task.subtask, []).append(task)
        wanted = list(selection.groups) or list(by_group)
        absent = [g for g in wanted if g not in by_group]
        if absent:
            raise SweepqError(f"no rows of subtask {', '.join(map(repr, absent))}; the data "
                              f"has {', '.join(map(repr, by_group))}")
        end = None if selection.n is None else selection.start + selection.n
        return [t for g in wanted for t in by_group[g][selection.start:end]]

    def _rows(self, selection: Selection) -> Any:
        if selection.dataset is None:
            raise SweepqError(f"benchmark {self.name} reads `dataset` FILE_OR_NAME: pass it")
        if self.builder == "hub":
            split = str(selection.options.get("split") or "train")
            return hfdata.hub(selection.dataset, split, "a JSONL or CSV file, with "
                              "--benchmark jsonl or csv")
        path = Path(selection.dataset).expanduser()
        if not path.is_file():
            raise SweepqError(f"dataset {selection.dataset} is not a file; pass `dataset` "
                              f"FILE (a {self.name} file)")
        return hfdata.files(self.builder, [str(path)], f"a {self.name} file of questions")

    def task(self, i: int, row: Mapping[str, Any], fields: Mapping[str, str]) -> Task:
        """One row as a task, or a one-line refusal naming the row."""
        where = f"{self.name} row {i}"
        question = row[fields["question"]]
        if question is None or not str(question).strip():
            raise SweepqError(f"{where} has no question; fix or remove that row")
        choices = _choices(row, fields.get("choices"), where)
        answer = _answer(row[fields["answer"]], choices, where)
        subtask = str(row[fields["subtask"]]) if "subtask" in fields else self.name
        task_id = str(row[fields["id"]]) if "id" in fields else f"{self.name}/{i}"
        task = Task(task_id=task_id, subtask=subtask, index=i, question=str(question),
                    choices=choices, target=answer, answer=answer, prompt="",
                    extra={"benchmark": self.name})
        if not choices:   # the gold as the scorer reads a reply's answer
            read = bbh_answers.extract_answer(bbh.format_answer(answer), task)
            task = replace(task, answer=read or answer)
        return task


def field_map(given: Any, name: str) -> dict[str, str]:
    """The `field` option as {key: column}, checked; a one-line refusal otherwise."""
    pairs = dict(given or {})
    unknown = [k for k in pairs if k not in KEYS]
    if unknown:
        raise SweepqError(f"unknown field key {', '.join(unknown)}: `field` takes "
                          f"{_FIELD_HELP}", "field")
    missing = [k for k in REQUIRED if not pairs.get(k)]
    if missing:
        raise SweepqError(f"benchmark {name} needs `field` {missing[0]}=COLUMN (the map: "
                          f"{_FIELD_HELP})", "field")
    return {k: str(v).strip() for k, v in pairs.items()}


def _choices(row: Mapping[str, Any], spec: str | None, where: str) -> tuple[tuple[str, str], ...]:
    if not spec:
        return ()
    cols = [c.strip() for c in spec.split(",") if c.strip()]
    values = row[cols[0]] if len(cols) == 1 else [row[c] for c in cols]
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise SweepqError(f"{where}: choices must be a list (or several columns); got "
                          f"{values!r}")
    if len(values) > len(LABELS) or any(v is None or not str(v).strip() for v in values):
        raise SweepqError(f"{where} has an empty choice or more than {len(LABELS)}; fix or "
                          "remove that row")
    return tuple(zip(LABELS, (str(v) for v in values), strict=False))


def _answer(gold: Any, choices: tuple[tuple[str, str], ...], where: str) -> str:
    """The gold as a label when there are choices (a label, an index, a choice's text)."""
    if gold is None or not str(gold).strip():
        raise SweepqError(f"{where} has no answer; fix or remove that row")
    if not choices:
        return str(gold).strip()
    labels = [label for label, _ in choices]
    text = str(gold).strip()
    if text.strip("()").upper() in labels and len(text.strip("()")) == 1:
        return text.strip("()").upper()
    if isinstance(gold, int) and not isinstance(gold, bool) and 0 <= gold < len(labels):
        return labels[gold]
    for label, choice in choices:
        if choice.strip() == text:
            return label
    raise SweepqError(f"{where} has answer {gold!r}, which is none of its choices' labels "
                      f"(A-{labels[-1]}), 0-based indexes or texts; fix or remove that row")


JSONL = FieldMap("jsonl", "json", {"field": _FIELD_HELP})
CSV = FieldMap("csv", "csv", {"field": _FIELD_HELP})
HF = FieldMap("hf", "hub", {"field": _FIELD_HELP, "split": "the split (default train)"})
BUILTIN = {"jsonl": JSONL, "csv": CSV, "hf": HF}
