"""Prompt sets: every text a built-in arm or the BBH task builder sends, as data.

A sweep's numbers are only comparable with another's if the models saw the same words,
so the words are part of the experiment: a prompt set is a TOML file (schema in
docs/prompt-sets.md, `sweepq prompts init FILE` writes the default one), stored whole in the sweep
at enqueue (`prompt_sets` table) and read back from there by every job, never from the
file again. The built-in default set is a shipped file, `prompt_sets/default.toml`,
byte for byte what sweepq sent before prompt sets existed.

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

from . import fewshot, templates, transport
from .errors import SweepqError

SCHEMA = 1
DEFAULT_NAME = "default"
SET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_TOKENS_LIMIT = 128_000
# What the API backends send when a set leaves a max_tokens unset (the Messages API
# requires one); the Claude CLI takes none and uses its own. `requests` says so.
UNSET_MAX_TOKENS = 4096

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
SUBTASK_FIELDS = (*SUBTASK_TEMPLATES, *SUBTASK_PERSONAS)


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
    def answer_max_tokens(self) -> int | None:
        """None: unset, the backend's own default (`UNSET_MAX_TOKENS` for the API)."""
        return self.data["max_tokens"].get("answer")

    @property
    def judge_max_tokens(self) -> int | None:
        return self.data["max_tokens"].get("judge")

    @functools.cached_property
    def transport(self) -> transport.Transport:
        return transport.Transport.from_data(self.data.get("transport"))

    def system(self, persona: str, subtask: str) -> str:
        """The system text of a call for `subtask` with `persona` (the subtask's own,
        `persona_for`), with the subtask's few-shot exemplars when the set has them
        (`[fewshot]`, fewshot.py)."""
        return fewshot.system_text(self.data, self.persona_for(persona, subtask), subtask)

    def persona_for(self, persona: str, subtask: str) -> str:
        """`persona` (the set's a or b, as an arm passes it) for a task of `subtask`: the
        subtask's own (`[task.subtasks.NAME] persona_a|persona_b`), else the group's
        built-in one (`group_texts`: HumanEval's code personas), else `persona` itself.

        Why by the text: arms name a persona by passing the set's text (`ps.persona_a`),
        so a set whose a and b are the same text gets the subtask's a for both."""
        for key, role in SUBTASK_PERSONAS.items():
            if persona == self.data["personas"][role]:
                own = self.data["task"].get("subtasks", {}).get(subtask, {})
                return own.get(key) or group_texts(subtask).get(key) or persona
        return persona

    @property
    def agree(self) -> str:
        return self.data["judge"]["agree"]

    @property
    def disagree(self) -> str:
        return self.data["judge"]["disagree"]

    # -- writing --------------------------------------------------------------

    def task_prompt(self, subtask: str, question: str,
                    choices: Sequence[Sequence[str]], raw_question: str | None = None) -> str:
        """The task prompt: the multiple-choice template when there are options, else free form.

        `raw_question` is the input as the data gave it, its own `Options:` block included
        (`{raw_question}`); the subtask's own templates (`[task.subtasks.NAME]`) win, then
        the group's built-in ones (`group_texts`: HumanEval's)."""
        task = {**self.data["task"], **group_texts(subtask),
                **self.data["task"].get("subtasks", {}).get(subtask, {})}
        raw = question if raw_question is None else raw_question
        if choices:
            options = "\n".join(task["option"].format(label=label, text=text)
                                for label, text in choices)
            return task["multiple_choice"].format(question=question, raw_question=raw,
                                                  options=options)
        hint = task["hints"].get(subtask, task["default_hint"])
        return task["free_form"].format(question=question, raw_question=raw, hint=hint)

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

@functools.cache
def default_set() -> PromptSet:
    """The built-in set: `prompt_sets/default.toml`, shipped in the package and parsed like
    any set. It is the one source of the default texts (`arms` and `bbh` read theirs from
    it), byte for byte what sweepq sent before prompt sets existed (same digest)."""
    return builtin(DEFAULT_NAME)


# --------------------------------------------------------------------------- validation

def validate(data: Mapping[str, Any]) -> None:
    """Raise ValueError("FIELD: what is wrong") for the first problem in a parsed set."""
    _check_shape(data)
    for path, (required, allowed) in TEMPLATES.items():
        _check_template(path, _at(data, path), required, allowed)
    for subtask, table in data["task"].get("subtasks", {}).items():
        _check_subtask(subtask, table)
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
    _check_agreement(data["judge"])


def _check_subtask(subtask: str, table: Any) -> None:
    """A `[task.subtasks.NAME]` table: only the three templates, each a valid one, and the
    two personas, each a non-empty text."""
    if not isinstance(table, dict):
        raise ValueError(f"task.subtasks.{subtask}: must be a table")
    for key, template in table.items():
        if key not in SUBTASK_FIELDS:
            raise ValueError(f"task.subtasks.{subtask}.{key}: unknown field (known: "
                             f"{', '.join(SUBTASK_FIELDS)})")
        if not isinstance(template, str):
            raise ValueError(f"task.subtasks.{subtask}.{key}: must be a string")
        if key in SUBTASK_PERSONAS:
            if not template.strip():
                raise ValueError(f"task.subtasks.{subtask}.{key}: is empty")
            continue
        _check_template(f"task.subtasks.{subtask}.{key}", template, *TEMPLATES[f"task.{key}"])


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


def parse(text: str, source: str, base: fewshot.Readable | None = None) -> PromptSet:
    """A prompt set from TOML text; SweepqError "SOURCE: FIELD: problem" when it is not one.

    `base`: the folder of the set's file, where `[fewshot] from` is read (fewshot.py);
    a set that read exemplars is stored as TOML written again with them in it."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SweepqError(f"prompt set {source}: not valid TOML ({exc})") from None
    try:
        validate(data)
        if fewshot.resolve(data, base):
            from .prompts_toml import render

            data.setdefault("schema", SCHEMA)
            text = render(data)
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
    return parse(text, source or path, Path(path).expanduser().parent)


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
        sets[name] = _file_or_builtin(path)
    sets.setdefault(DEFAULT_NAME, default_set())
    return sets


# --------------------------------------------------------------------------- built in

BUILTIN_DIR = "prompt_sets"   # inside the package: NAME.toml, named by `--prompts NAME`
GROUPS_DIR = "groups"         # inside BUILTIN_DIR: GROUP.toml, a group's own texts


@functools.cache
def group_texts(group: str) -> dict[str, str]:
    """The built-in texts of one group of tasks (`prompt_sets/groups/GROUP.toml`: fields of
    a `[task.subtasks.GROUP]` table), which every set without its own for that group
    uses; {} for a group with none (every BBH subtask, every MMLU-Pro category).

    Why apart from the sets: HumanEval's code personas and prompt are not the default
    set's multiple-choice texts, and adding them to a set would change its digest, so a
    sweep stored with the old set could no longer be grown with the same `--prompts`."""
    import importlib.resources
    import tomllib

    if not SET_NAME.match(group):
        return {}
    path = importlib.resources.files("sweepq").joinpath(BUILTIN_DIR, GROUPS_DIR,
                                                        f"{group}.toml")
    if not path.is_file():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    _check_subtask(group, data)
    return data


def builtin_names() -> list[str]:
    """The sets shipped with sweepq: `default`, `echo-parity` (docs/parity.md)."""
    import importlib.resources

    folder = importlib.resources.files("sweepq").joinpath(BUILTIN_DIR)
    return sorted(f.name.removesuffix(".toml") for f in folder.iterdir()
                  if f.name.endswith(".toml"))


def builtin(name: str) -> PromptSet:
    """A shipped set by name, parsed like any file."""
    import importlib.resources

    folder = importlib.resources.files("sweepq").joinpath(BUILTIN_DIR)
    text = folder.joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return parse(text, f"built-in {name}", folder)


def _file_or_builtin(spec: str) -> PromptSet:
    """A file when one is there, else the shipped set of that name."""
    from pathlib import Path

    if not Path(spec).expanduser().exists() and spec in builtin_names():
        return builtin(spec)
    if not Path(spec).expanduser().exists():
        raise SweepqError(f"cannot read prompt set {spec}: no such file, and no built-in set "
                          f"of that name (built in: {', '.join(builtin_names())}); pass "
                          "`prompts` [NAME=]FILE")
    return read_file(spec)
