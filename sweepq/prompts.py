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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from . import fewshot, templates, transport
from .errors import SweepqError
from .prompt_schema import (  # noqa: F401 - MAX_TOKENS_LIMIT: prompts.X for the docs' checks
    MAX_TOKENS_LIMIT,
    OPTIONAL,
    SCHEMA,
    SET_NAME,
    SUBTASK_JUDGE,
    SUBTASK_PERSONAS,
    check_judge,
    check_subtask,
    rule,
    validate,
)

DEFAULT_NAME = "default"
# What the API backends send when a set leaves a max_tokens unset (the Messages API
# requires one); the Claude CLI takes none and uses its own. `requests` says so.
UNSET_MAX_TOKENS = 4096
T = TypeVar("T")


class _Value(Generic[T]):
    """A set's value at `section.key`, read as an attribute (`prompt_set.persona_a`); None
    for an `OPTIONAL` one the set leaves out."""

    def __init__(self, path: str) -> None:
        self.section, _, self.key = path.partition(".")
        self.optional = path in OPTIONAL

    def __get__(self, prompt_set: PromptSet, owner: type | None = None) -> T:
        values = prompt_set.data[self.section]
        return values.get(self.key) if self.optional else values[self.key]


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

    # -- the values, by role (a max_tokens None: unset, the backend's own default,
    # `UNSET_MAX_TOKENS` for the API) --------------------------------------------

    persona_a = _Value[str]("personas.a")
    persona_b = _Value[str]("personas.b")
    judge_system = _Value[str]("judge.system")
    agree = _Value[str]("judge.agree")
    disagree = _Value[str]("judge.disagree")
    answer_max_tokens = _Value[int | None]("max_tokens.answer")
    judge_max_tokens = _Value[int | None]("max_tokens.judge")

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
        return rule(self.data["judge"]["agreement"])(verdict)

    def judge_for(self, subtask: str) -> dict[str, str]:
        """The judge of a task of `subtask` (`[judge]`'s fields: system, question,
        agreement, agree, disagree): each the subtask's own (`[task.subtasks.NAME]
        judge_*`), else the group's built-in one (HumanEval's code judge), else the set's."""
        return judge_texts(self.data, subtask)

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


def judge_texts(data: Mapping[str, Any], subtask: str) -> dict[str, str]:
    """`PromptSet.judge_for` on a set's parsed data."""
    own = {**group_texts(subtask), **data["task"].get("subtasks", {}).get(subtask, {})}
    return {**data["judge"], **{field: own[key] for key, field in SUBTASK_JUDGE.items()
                                if key in own}}


def _check_subtask_judges(data: Mapping[str, Any]) -> None:
    """Each subtask's judge, filled from the group's and the set's, reads its own verdicts
    right (`judge_agree` agrees, `judge_disagree` does not)."""
    for subtask in data["task"].get("subtasks", {}):
        check_judge(judge_texts(data, subtask), f"task.subtasks.{subtask}.judge_")


def digest(data: Mapping[str, Any]) -> str:
    """sha256 of the set's content (not its TOML text): comments and layout don't count."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()



# --------------------------------------------------------------------------- the default

@functools.cache
def default_set() -> PromptSet:
    """The built-in set: `prompt_sets/default.toml`, shipped in the package and parsed like
    any set. It is the one source of the default texts (`arms` and `bbh` read theirs from
    it), byte for byte what sweepq sent before prompt sets existed (same digest)."""
    return builtin(DEFAULT_NAME)



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
        _check_subtask_judges(data)
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
    check_subtask(group, data)
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
