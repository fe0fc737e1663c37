"""What a prompt set is: its sections and fields, the placeholders each template takes,
and the checks a set's TOML passes before sweepq uses it (`validate`).

Kept apart from `prompts` (the set as used: its texts by role, rendering, reading back)
so the rules a file must follow can be read in one place; docs/prompt-sets.md states
them for people, and tests/unit/test_doc_claims.py holds the two together.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from typing import Any

from . import fewshot, transport

SCHEMA = 1
SET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_TOKENS_LIMIT = 128_000

# Template fields: (placeholders required, placeholders allowed).
TEMPLATES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "task.multiple_choice": (frozenset({"options"}),
                             frozenset({"question", "raw_question", "options"})),
    "task.option": (frozenset({"label", "text"}),) * 2,
    "task.free_form": (frozenset(), frozenset({"question", "raw_question", "hint"})),
    "judge.question": (frozenset({"question", "a", "b"}),) * 2,
}
# Plain texts: sent or substituted as they are, braces included; none may be empty.
TEXTS = ("task.default_hint", "personas.a", "personas.b", "judge.system", "judge.agreement",
         "judge.agree", "judge.disagree")
NUMBERS = ("max_tokens.answer", "max_tokens.judge")
SECTIONS = {"task": ("multiple_choice", "option", "free_form", "default_hint", "hints",
                     "subtasks"),
            "personas": ("a", "b"),
            "judge": ("system", "question", "agreement", "agree", "disagree"),
            "max_tokens": ("answer", "judge"),
            "transport": transport.FIELDS,
            "fewshot": fewshot.FIELDS}
# What a set may leave out: per-subtask templates, a max_tokens (then unset: the
# backend's own default), and the whole transport (today's: flag, stdin, json).
OPTIONAL = frozenset({"task.subtasks", "max_tokens.answer", "max_tokens.judge",
                      *(f"transport.{f}" for f in transport.FIELDS),
                      *(f"fewshot.{f}" for f in fewshot.FIELDS)})
# `[fewshot]`: per-subtask exemplars (fewshot.py), checked there.
OPTIONAL_SECTIONS = frozenset({"transport", "fewshot"})
# `[task.subtasks.NAME]`: templates that replace the set's own for one subtask, and the
# personas its tasks are asked with (plain texts, replacing `[personas]` a and b).
SUBTASK_TEMPLATES = ("multiple_choice", "option", "free_form")
SUBTASK_PERSONAS = {"persona_a": "a", "persona_b": "b"}
# ... and the judge its tasks are asked with (`[judge]`'s fields, one by one): HumanEval's
# code judge (prompt_sets/groups/humaneval.toml) is one.
SUBTASK_JUDGE = {"judge_system": "system", "judge_question": "question",
                 "judge_agreement": "agreement", "judge_agree": "agree",
                 "judge_disagree": "disagree"}
SUBTASK_FIELDS = (*SUBTASK_TEMPLATES, *SUBTASK_PERSONAS, *SUBTASK_JUDGE)


def rule(spec: str) -> Callable[[str], bool]:
    """`prefix:WORD` (case-sensitive), `prefix-nocase:WORD` or `regex:PATTERN`.

    Every rule reads the verdict with leading whitespace stripped; a regex must match
    at its start (`re.match`). Raises ValueError for anything else.
    """
    kind, sep, value = spec.partition(":")
    if not sep or not value:
        raise ValueError("must be prefix:WORD, prefix-nocase:WORD or regex:PATTERN")
    if kind == "prefix":
        return lambda verdict: verdict.lstrip().startswith(value)
    if kind == "prefix-nocase":
        folded = value.casefold()
        return lambda verdict: verdict.lstrip().casefold().startswith(folded)
    if kind == "regex":
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"the regular expression does not compile ({exc})") from None
        return lambda verdict: compiled.match(verdict.lstrip()) is not None
    raise ValueError(f"unknown rule {kind!r}: use prefix, prefix-nocase or regex")


def validate(data: Mapping[str, Any]) -> None:
    """Raise ValueError("FIELD: what is wrong") for the first problem in a parsed set."""
    _check_shape(data)
    for path, (required, allowed) in TEMPLATES.items():
        _check_template(path, _at(data, path), required, allowed)
    for subtask, table in data["task"].get("subtasks", {}).items():
        check_subtask(subtask, table)
    for path in TEXTS:
        if not _at(data, path).strip():
            raise ValueError(f"{path}: is empty")
    for subtask, hint in data["task"]["hints"].items():
        if not isinstance(hint, str) or not hint.strip():
            raise ValueError(f"task.hints.{subtask}: must be a non-empty string")
    for path in NUMBERS:
        section, _, key = path.partition(".")
        value = data[section].get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 1 <= value <= MAX_TOKENS_LIMIT):
            raise ValueError(f"{path}: must be a whole number from 1 to {MAX_TOKENS_LIMIT}")
    if "transport" in data:
        transport.validate(data["transport"])
    if "fewshot" in data:
        fewshot.validate(data["fewshot"])
    check_judge(data["judge"])


def check_subtask(subtask: str, table: Any) -> None:
    """A `[task.subtasks.NAME]` table: only the three templates, each a valid one, the
    two personas and the judge's texts, each a non-empty text, the judge's question a
    valid one and its agreement a rule (checked against its verdicts by `check_judge`,
    once the set's and the group's judge fill what the table leaves out)."""
    if not isinstance(table, dict):
        raise ValueError(f"task.subtasks.{subtask}: must be a table")
    for key, template in table.items():
        if key not in SUBTASK_FIELDS:
            raise ValueError(f"task.subtasks.{subtask}.{key}: unknown field (known: "
                             f"{', '.join(SUBTASK_FIELDS)})")
        if not isinstance(template, str):
            raise ValueError(f"task.subtasks.{subtask}.{key}: must be a string")
        path = f"task.subtasks.{subtask}.{key}"
        if key == "judge_question":
            _check_template(path, template, *TEMPLATES["judge.question"])
        elif key in SUBTASK_PERSONAS or key in SUBTASK_JUDGE:
            if not template.strip():
                raise ValueError(f"{path}: is empty")
        else:
            _check_template(path, template, *TEMPLATES[f"task.{key}"])


def _at(data: Mapping[str, Any], path: str) -> Any:
    section, _, key = path.partition(".")
    return data[section][key]


def _check_shape(data: Mapping[str, Any]) -> None:
    """Every section and field present, nothing unknown, strings where strings go."""
    if data.get("schema", SCHEMA) != SCHEMA:
        raise ValueError(f"schema: this sweepq reads schema {SCHEMA}, not {data['schema']!r}")
    for key in data:
        if key != "schema" and key not in SECTIONS:
            raise ValueError(f"{key}: unknown section (known: {', '.join(SECTIONS)})")
    for section, keys in SECTIONS.items():
        table = data.get(section)
        if table is None and section in OPTIONAL_SECTIONS:
            continue
        if not isinstance(table, dict):
            raise ValueError(f"[{section}]: the section is missing")
        for key in table:
            if key not in keys:
                raise ValueError(f"{section}.{key}: unknown field (known: {', '.join(keys)})")
        for key in keys:
            if key not in table:
                if f"{section}.{key}" in OPTIONAL:
                    continue
                raise ValueError(f"{section}.{key}: the field is missing")
            want = dict if key in ("hints", "subtasks", "exemplars") \
                else int if section == "max_tokens" else str
            if not isinstance(table[key], want):
                raise ValueError(f"{section}.{key}: must be a {_TYPE_NAMES[want]}")


_TYPE_NAMES = {dict: "table", int: "whole number", str: "string"}


def _check_template(path: str, template: str, required: frozenset[str],
                    allowed: frozenset[str]) -> None:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{path}: not a template ({exc}; write {{{{ for a literal brace)") \
            from None
    seen = set()
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in allowed:
            known = ", ".join(f"{{{n}}}" for n in sorted(allowed))
            raise ValueError(f"{path}: unknown placeholder {{{name}}} (allowed: {known}; "
                             "write {{ for a literal brace)")
        if spec or conversion:
            raise ValueError(f"{path}: placeholder {{{name}}} takes no format or conversion")
        seen.add(name)
    if not template.format(**{n: "" for n in allowed}).strip():
        raise ValueError(f"{path}: renders empty (it has no text besides its placeholders)")
    missing = sorted(required - seen)
    if "raw_question" in allowed and not seen & {"question", "raw_question"}:
        missing = ["question", *missing]   # either form of the question will do
    if missing:
        tail = " (or {raw_question})" if missing[0] == "question" else ""
        raise ValueError(f"{path}: missing placeholder {{{missing[0]}}}{tail}")


def check_judge(judge: Mapping[str, str], prefix: str = "judge.") -> None:
    """The judge's agreement rule parses, its agreeing verdict agrees and its disagreeing
    one does not. `prefix` names the fields in the message: `judge.` for the set's,
    `task.subtasks.NAME.judge_` for a subtask's own judge."""
    try:
        agrees = rule(judge["agreement"])
    except ValueError as exc:
        raise ValueError(f"{prefix}agreement: {exc}") from None
    if not agrees(judge["agree"]):
        raise ValueError(f"{prefix}agreement: the agreeing verdict {judge['agree']!r} "
                         f"({prefix}agree) does not count as agreement")
    if agrees(judge["disagree"]):
        raise ValueError(f"{prefix}agreement: the disagreeing verdict {judge['disagree']!r} "
                         f"({prefix}disagree) counts as agreement")
