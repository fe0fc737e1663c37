"""Few-shot exemplars of a prompt set: read from the upstream CoT files, stored with the set.

Why: published BBH numbers use the 3-shot chain-of-thought protocol, whose exemplars
were published one file per subtask (`cot-prompts/SUBTASK.txt`: a canary line, a
`-----` line, the task's one-line description, then three `Q: … A: Let's think step by
step. … So the answer is …` blocks). A set names them in `[fewshot] from` (a file, or a
folder of SUBTASK.txt, relative to the set's file); they are read once, when the set is
read, into `[fewshot.exemplars]` (subtask -> text), so the sweep stores their content
and its digest covers them, and a job never reads the files again.

`placement = "system"` puts a subtask's exemplars after the persona in the system text:
one prefix that repeats on every task of the subtask, which is what prompt caching
(caching.py) can serve at a tenth of the price.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

FIELDS = ("from", "placement", "exemplars")
PLACEMENTS = ("system",)
SEPARATOR = "\n\n"
CANARY_RULE = "-----"


class Readable(Protocol):
    """A `pathlib.Path` or an `importlib.resources` Traversable (a shipped folder)."""

    name: str

    def is_dir(self) -> bool: ...
    def is_file(self) -> bool: ...
    def iterdir(self) -> Any: ...
    def joinpath(self, *parts: str) -> Any: ...
    def read_text(self, encoding: str = ...) -> str: ...


def strip_header(text: str) -> str:
    """The exemplars of one upstream file: what follows its canary and `-----` line."""
    head, sep, rest = text.partition(CANARY_RULE + "\n")
    body = rest if sep and "canary" in head.lower() else text
    return body.strip()


def load(source: Readable) -> dict[str, str]:
    """subtask -> exemplars, from one SUBTASK.txt or a folder of them.

    ValueError (worded for the set's `fewshot.from`) when there is nothing to read."""
    if source.is_file():
        files = [source]
    elif source.is_dir():
        files = sorted((f for f in source.iterdir() if f.name.endswith(".txt")),
                       key=lambda f: f.name)
    else:
        raise ValueError("fewshot.from: no such file or folder")
    out: dict[str, str] = {}
    for f in files:
        try:
            text = strip_header(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"fewshot.from: cannot read {f.name} "
                             f"({getattr(exc, 'strerror', None) or 'not UTF-8 text'})") \
                from None
        if text:
            out[f.name.removesuffix(".txt")] = text
    if not out:
        raise ValueError("fewshot.from: no SUBTASK.txt file with exemplars there")
    return out


def validate(table: Any) -> None:
    """A `[fewshot]` table: known fields, a known placement, exemplars as texts."""
    if not isinstance(table, dict):
        raise ValueError("[fewshot]: must be a table")
    for key in table:
        if key not in FIELDS:
            raise ValueError(f"fewshot.{key}: unknown field (known: {', '.join(FIELDS)})")
    placement = table.get("placement", PLACEMENTS[0])
    if placement not in PLACEMENTS:
        raise ValueError(f"fewshot.placement: {placement!r} is not one of "
                         f"{', '.join(PLACEMENTS)}")
    if "from" in table and (not isinstance(table["from"], str) or not table["from"].strip()):
        raise ValueError("fewshot.from: must be a file or folder name")
    exemplars = table.get("exemplars")
    if exemplars is None:
        if "from" not in table:
            raise ValueError("fewshot: give `from` (a file or folder of SUBTASK.txt)")
        return
    if not isinstance(exemplars, dict) or not exemplars:
        raise ValueError("fewshot.exemplars: must be a table of subtask = text")
    for subtask, text in exemplars.items():
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"fewshot.exemplars.{subtask}: must be a non-empty string")


def resolve(data: dict[str, Any], base: Readable | None) -> bool:
    """Read `fewshot.from` into `fewshot.exemplars` when they are not there yet.

    True when it read them (the set's text must then be written again to hold them).
    `base` is the folder the set came from; None (a stored set) must have them already."""
    table = data.get("fewshot")
    if table is None or "exemplars" in table:
        return False
    if base is None:
        raise ValueError("fewshot.from: a stored set must hold its exemplars")
    table["exemplars"] = load(base.joinpath(table["from"]))
    table.setdefault("placement", PLACEMENTS[0])
    return True


def system_text(data: Mapping[str, Any], persona: str, subtask: str) -> str:
    """The system text of a call for `subtask`: the persona, then the subtask's exemplars
    (when the set has some for it and places them in the system text)."""
    table = data.get("fewshot")
    if not table or table.get("placement", PLACEMENTS[0]) != "system":
        return persona
    exemplars = table.get("exemplars", {}).get(subtask)
    return persona if exemplars is None else persona + SEPARATOR + exemplars
