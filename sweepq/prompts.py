"""Prompt sets: every text a built-in arm or the BBH task builder sends, as data.

A sweep's numbers are only comparable with another's if the models saw the same words,
so the words are part of the experiment: a prompt set is a TOML file (schema in
README.md, `sweepq prompts init FILE` writes the default one), stored whole in the sweep
at enqueue (`prompt_sets` table) and read back from there by every job, never from the
file again. The built-in default set is made from the constants in `bbh` and `arms`
when asked for, so it is byte for byte what sweepq sent before prompt sets existed.

Templates are `str.format` strings with named placeholders only (`{{` for a literal
brace); the values put into them are never formatted again. The same template also
reads a prompt back (`templates.pattern`), which is how the fake API recognises a set's
prompts.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import templates
from .errors import SweepqError

SCHEMA = 1
DEFAULT_NAME = "default"
SET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_TOKENS_LIMIT = 128_000

# Template fields: (placeholders required, placeholders allowed).
TEMPLATES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "task.multiple_choice": (frozenset({"question", "options"}),) * 2,
    "task.option": (frozenset({"label", "text"}),) * 2,
    "task.free_form": (frozenset({"question"}), frozenset({"question", "hint"})),
    "judge.question": (frozenset({"question", "a", "b"}),) * 2,
}
# Plain texts: sent or substituted as they are, braces included; none may be empty.
TEXTS = ("task.default_hint", "personas.a", "personas.b", "judge.system", "judge.agreement",
         "judge.agree", "judge.disagree")
NUMBERS = ("max_tokens.answer", "max_tokens.judge")
SECTIONS = {"task": ("multiple_choice", "option", "free_form", "default_hint", "hints"),
            "personas": ("a", "b"),
            "judge": ("system", "question", "agreement", "agree", "disagree"),
            "max_tokens": ("answer", "judge")}


@dataclass(frozen=True)
class PromptSet:
    """One parsed, validated prompt set. `text` is the TOML it came from, as stored."""

    data: dict[str, Any]
    text: str
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", digest(self.data))

    def get(self, path: str) -> Any:
        section, _, key = path.partition(".")
        return self.data[section][key]

    # -- the texts, by role ---------------------------------------------------

    @property
    def persona_a(self) -> str:
        return self.data["personas"]["a"]

    @property
    def persona_b(self) -> str:
        return self.data["personas"]["b"]

    @property
    def judge_system(self) -> str:
        return self.data["judge"]["system"]

    @property
    def answer_max_tokens(self) -> int:
        return self.data["max_tokens"]["answer"]

    @property
    def judge_max_tokens(self) -> int:
        return self.data["max_tokens"]["judge"]

    @property
    def agree(self) -> str:
        return self.data["judge"]["agree"]

    @property
    def disagree(self) -> str:
        return self.data["judge"]["disagree"]

    # -- writing --------------------------------------------------------------

    def task_prompt(self, subtask: str, question: str,
                    choices: Sequence[Sequence[str]]) -> str:
        """The task prompt: the multiple-choice template when there are options, else free form."""
        task = self.data["task"]
        if choices:
            options = "\n".join(task["option"].format(label=label, text=text)
                                for label, text in choices)
            return task["multiple_choice"].format(question=question, options=options)
        hint = task["hints"].get(subtask, task["default_hint"])
        return task["free_form"].format(question=question, hint=hint)

    def judge_prompt(self, prompt: str, a: str, b: str) -> str:
        """The judge's question about two answers to the task prompt `prompt`."""
        return self.data["judge"]["question"].format(question=prompt, a=a, b=b)

    def agrees(self, verdict: str) -> bool:
        """Whether the judge's verdict is agreement, by the set's rule."""
        return _rule(self.data["judge"]["agreement"])(verdict)

    # -- reading back (the fake API) -------------------------------------------

    def labels(self, prompt: str) -> list[str]:
        """The option labels of a task prompt this set built, in order; [] for free form."""
        return [m.group("label") for m in self._option_lines.finditer(prompt)]

    def read_judge(self, prompt: str) -> tuple[str, str, str] | None:
        """(task prompt, answer a, answer b) of a judge prompt this set built; else None."""
        match = self._judge_shape.fullmatch(prompt)
        return None if match is None else (match["question"], match["a"], match["b"])

    @functools.cached_property
    def _option_lines(self) -> re.Pattern[str]:
        option = templates.pattern(self.data["task"]["option"], label="[A-Z]", text="[^\n]*")
        return re.compile(f"^{option.pattern}$", re.M)

    @functools.cached_property
    def _judge_shape(self) -> re.Pattern[str]:
        return templates.pattern(self.data["judge"]["question"], re.S, question=".*?",
                                 a=".*?", b=".*?")


def digest(data: Mapping[str, Any]) -> str:
    """sha256 of the set's content (not its TOML text): comments and layout don't count."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# --------------------------------------------------------------------------- rules

def _rule(spec: str) -> Callable[[str], bool]:
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


# --------------------------------------------------------------------------- the default

def default_set() -> PromptSet:
    """The built-in set: today's constants in `bbh` and `arms`, read when called.

    Built from the module constants (not a copy of them) so the default can never drift
    from what `bbh.make_task` and the arms' documented constants say; cached per value.
    """
    from . import arms, bbh

    return _default(bbh.choice_template(), bbh.OPTION_LINE, bbh.free_form_template(),
                    tuple(sorted(bbh.FREE_HINTS.items())), bbh.DEFAULT_HINT, arms.PERSONA_A,
                    arms.PERSONA_B, arms.JUDGE_SYSTEM, arms.JUDGE_PROMPT, arms.JUDGE_AGREE,
                    arms.JUDGE_DISAGREE)


@functools.lru_cache(maxsize=8)
def _default(choice: str, option: str, free: str, hints: tuple[tuple[str, str], ...],
             default_hint: str, persona_a: str, persona_b: str, judge_system: str,
             judge_question: str, agree: str, disagree: str) -> PromptSet:
    from .prompts_toml import render

    data = {
        "schema": SCHEMA,
        "task": {"multiple_choice": choice, "option": option, "free_form": free,
                 "default_hint": default_hint, "hints": dict(hints)},
        "personas": {"a": persona_a, "b": persona_b},
        "judge": {"system": judge_system, "question": judge_question,
                  "agreement": f"prefix:{agree}", "agree": agree, "disagree": disagree},
        "max_tokens": {"answer": 1024, "judge": 16},
    }
    validate(data)
    return PromptSet(data, render(data))


# --------------------------------------------------------------------------- validation

def validate(data: Mapping[str, Any]) -> None:
    """Raise ValueError("FIELD: what is wrong") for the first problem in a parsed set."""
    _check_shape(data)
    for path, (required, allowed) in TEMPLATES.items():
        _check_template(path, _at(data, path), required, allowed)
    for path in TEXTS:
        if not _at(data, path).strip():
            raise ValueError(f"{path}: is empty")
    for subtask, hint in data["task"]["hints"].items():
        if not isinstance(hint, str) or not hint.strip():
            raise ValueError(f"task.hints.{subtask}: must be a non-empty string")
    for path in NUMBERS:
        value = _at(data, path)
        if isinstance(value, bool) or not isinstance(value, int) \
                or not 1 <= value <= MAX_TOKENS_LIMIT:
            raise ValueError(f"{path}: must be a whole number from 1 to {MAX_TOKENS_LIMIT}")
    _check_agreement(data["judge"])


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
        if not isinstance(table, dict):
            raise ValueError(f"[{section}]: the section is missing")
        for key in table:
            if key not in keys:
                raise ValueError(f"{section}.{key}: unknown field (known: {', '.join(keys)})")
        for key in keys:
            if key not in table:
                raise ValueError(f"{section}.{key}: the field is missing")
            want = dict if key == "hints" else int if section == "max_tokens" else str
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
    if missing:
        raise ValueError(f"{path}: missing placeholder {{{missing[0]}}}")


def _check_agreement(judge: Mapping[str, str]) -> None:
    try:
        agrees = _rule(judge["agreement"])
    except ValueError as exc:
        raise ValueError(f"judge.agreement: {exc}") from None
    if not agrees(judge["agree"]):
        raise ValueError(f"judge.agreement: the agreeing verdict {judge['agree']!r} "
                         "(judge.agree) does not count as agreement")
    if agrees(judge["disagree"]):
        raise ValueError(f"judge.agreement: the disagreeing verdict {judge['disagree']!r} "
                         "(judge.disagree) counts as agreement")


def parse(text: str, source: str) -> PromptSet:
    """A prompt set from TOML text; SweepqError "SOURCE: FIELD: problem" when it is not one."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SweepqError(f"prompt set {source}: not valid TOML ({exc})") from None
    try:
        validate(data)
    except ValueError as exc:
        raise SweepqError(f"prompt set {source}: {exc}") from None
    data.setdefault("schema", SCHEMA)
    return PromptSet(data, text)


# --------------------------------------------------------------------------- files

def read_file(path: str, source: str | None = None) -> PromptSet:
    """A prompt set from a file; one-line SweepqError when it is missing or not a set."""
    from pathlib import Path

    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise SweepqError(f"cannot read prompt set {path}: {reason}") from None
    return parse(text, source or path)


def sets_from_options(specs: Sequence[str]) -> dict[str, PromptSet]:
    """`--prompts [NAME=]FILE` values -> every set of the sweep, `default` always among them.

    `FILE` alone is the default set; `NAME=FILE` (NAME: lower-case letters, digits, `-`,
    `_`) a set arms name as `ARM@NAME`. Without a default given, the built-in one is used.
    """
    sets: dict[str, PromptSet] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not SET_NAME.match(name):
            name, path = DEFAULT_NAME, spec
        if name in sets:
            raise SweepqError(f"`prompts` names the set {name!r} twice")
        if not path:
            raise SweepqError(f"`prompts` {spec!r} names no file: pass `prompts` [NAME=]FILE")
        sets[name] = read_file(path)
    sets.setdefault(DEFAULT_NAME, default_set())
    return sets
