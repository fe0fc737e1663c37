"""Arms by name: the registry, `ARM@SET` and `ARM[KEY=VALUE]` names, the models an arm
calls, and an arm bound to its sweep's prompt set.

A sweep stores its arms as names, so every process that runs or inspects it (`enqueue`,
`work`, `requests`, `estimate`) turns the same names into the same functions here; the
arms themselves (`arms`) know nothing of names.

Prompt sets (`sweepq.prompts`): a sweep runs each arm bound to a stored set
(`for_sweep`, `bind`): `task.prompt` is rendered from the set, and an arm with a
`prompts` parameter (every built-in) gets the `PromptSet` itself for its personas,
judge and max_tokens. `ARM@SET` names the arm ARM with the sweep's set SET. Called
without a set, a built-in arm uses the built-in default set.

Register custom arms with an entry point in the group `sweepq.arms`
(`my-arm = "mypkg.arms:my_arm"`, found in any installed distribution), or put
them in a module's `ARMS` dict (name -> function) and pass
`--arms-module mypkg.arms` to both `sweepq enqueue` and `sweepq work` (the
module is not stored with the sweep). An entry point or `ARMS` entry with a
built-in's name replaces the built-in.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from . import benchmarks
from .arms import BUILTIN, CALLS, VARIANTS, Arm, ArmClient
from .errors import SweepqError
from .prompts import DEFAULT_NAME, SET_NAME, PromptSet, default_set
from .task import Task
from .transport import Transport
from .vendors import target

ENTRY_POINT_GROUP = "sweepq.arms"
MODEL_OPTIONS = ("judge",)   # options whose value is a model alias or id
_OPTIONS = re.compile(r"^(?P<head>[^\[\]]+)\[(?P<options>[^\]]*)\](?P<tail>@.*)?$")


def registry(module: str | None = None) -> dict[str, Arm]:
    """Built-in arms and judge variants, then entry points of group `sweepq.arms`, then
    `module.ARMS`."""
    arms = {**BUILTIN, **VARIANTS, **entry_point_arms()}
    if module:
        _importable_from_cwd()
        try:
            loaded = importlib.import_module(module)
        except ImportError as exc:
            raise SweepqError(f"cannot import `arms_module` {module}: {exc}") from None
        extra = getattr(loaded, "ARMS", None)
        if not isinstance(extra, dict):
            raise SweepqError(f"`arms_module` {module} has no ARMS dict (name -> function)")
        arms.update(extra)
    return arms


@functools.cache
def entry_point_arms() -> dict[str, Arm]:
    """The arms of entry point group `sweepq.arms`, loaded once per process (as scorers
    and benchmarks are): reading every installed distribution's metadata took ~30 ms,
    and `registry` runs at each enqueue, bind and check."""
    from importlib.metadata import entry_points  # slow to import; only needed here

    return {entry.name: entry.load() for entry in entry_points(group=ENTRY_POINT_GROUP)}


def _importable_from_cwd() -> None:
    """`--arms-module mylab.arms` run from the folder that holds `mylab/`: the `sweepq`
    script's sys.path starts at its own folder, not the working directory, as `python -m`'s
    does, so the working directory is put first (once)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def models_called(arm: Arm) -> tuple[str, ...] | None:
    """The aliases (or ids) `arm` calls, its model options included; None when unknown."""
    fn: Callable[..., str] = arm
    options: dict[str, object] = {}
    while isinstance(fn, functools.partial):
        options = {**fn.keywords, **options}
        fn = fn.func
    declared = CALLS.get(fn, getattr(fn, "models", None))
    if declared is None:
        return None
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    chosen = [options.get(name, params[name].default) for name in MODEL_OPTIONS
              if name in params]
    return tuple(dict.fromkeys([*declared, *(str(c) for c in chosen if isinstance(c, str))]))


def _aliases_per_arm(names: Sequence[str], module: str | None = None
                     ) -> dict[str, set[str]] | None:
    """Each arm's model aliases, or None when some arm's cannot be known (a custom arm not
    loadable here, or one that declares no `models`)."""
    try:
        arms = validate(names, module)
    except SweepqError:
        return None
    called = {name: models_called(arm) for name, arm in arms.items()}
    if any(aliases is None for aliases in called.values()):
        return None
    return {name: set(aliases or ()) for name, aliases in called.items()}


def aliases_called(names: Sequence[str], module: str | None = None) -> set[str] | None:
    """Every model alias the arms `names` call, or None when that cannot be known."""
    per_arm = _aliases_per_arm(names, module)
    return None if per_arm is None else set().union(*per_arm.values())


def calling(names: Sequence[str], alias: str) -> list[str] | None:
    """The arms among `names` that call model `alias`; None when that cannot be known:
    then any may, and `sweepq models` guards every arm."""
    per_arm = _aliases_per_arm(names)
    return None if per_arm is None else [n for n, aliases in per_arm.items() if alias in aliases]


def check_models(arms: Mapping[str, Arm], models: Mapping[str, str]) -> None:
    """Refuse, in one line naming the fix, an arm whose model the sweep cannot call: an
    alias the map does not define, or a provider whose SDK extra is not installed."""
    for name, arm in arms.items():
        for alias in models_called(arm) or ():
            model_id = models.get(alias)
            if model_id is None and ":" not in alias and not alias.startswith("claude-"):
                raise SweepqError(f"arm {name} calls model alias {alias!r}, which the "
                                  f"sweep's model map does not define: add `model` "
                                  f"{alias}=PROVIDER:MODEL (e.g. {alias}=openai:gpt-5.4-mini)")
            target.require_sdk(model_id or alias, f"arm {name}")


def split_name(name: str) -> tuple[str, str]:
    """`haiku-only@terse` -> ("haiku-only", "terse"); a name without `@` uses the default set."""
    base, sep, set_name = name.partition("@")
    if sep and not SET_NAME.match(set_name):
        raise SweepqError(f"arm {name}: {set_name!r} is not a prompt set name (lower-case "
                          "letters, digits, - and _)")
    return base, set_name if sep else DEFAULT_NAME


def split_options(name: str) -> tuple[str, dict[str, str]]:
    """`echo-judge[judge=openai:gpt-5.4-mini]@terse` → ("echo-judge@terse", {"judge": …})."""
    match = _OPTIONS.match(name)
    if match is None:
        return name, {}
    options = {}
    for pair in filter(None, (p.strip() for p in match["options"].split(";"))):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SweepqError(f"arm {name}: {pair!r} is not KEY=VALUE (e.g. "
                              "echo-judge[judge=openai:gpt-5.4-mini])")
        options[key.strip()] = value.strip()
    return match["head"] + (match["tail"] or ""), options


def _configured(name: str, arm: Arm, options: dict[str, str]) -> Arm:
    """`arm` with its options given, or an error naming the options it does not take."""
    if not options:
        return arm
    try:
        params = inspect.signature(arm).parameters
    except (TypeError, ValueError):
        params = {}
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise SweepqError(f"arm {name}: its function takes no option {', '.join(unknown)}")
    return functools.partial(arm, **options)


def validate(names: Sequence[str], module: str | None = None,
             sets: Mapping[str, PromptSet] | None = None) -> dict[str, Arm]:
    """The arms named (the function of `base@set` is base's), or an error listing the known ones.

    `base[key=value]` is base with that option (`echo-judge[judge=ALIAS_OR_ID]`). With
    `sets`, an arm naming a prompt set not among them is an error too.
    """
    if not names:
        raise SweepqError("no arms given: pass `arms` a,b")
    if len(set(names)) != len(names):
        raise SweepqError("an arm is listed twice in `arms`")
    plain = {name: split_options(name) for name in names}
    arms = _validate_plain([p for p, _ in plain.values()], module, sets)
    return {name: _configured(name, arms[p], options) for name, (p, options) in plain.items()}


def _validate_plain(names: Sequence[str], module: str | None,
                    sets: Mapping[str, PromptSet] | None) -> dict[str, Arm]:
    known = registry(module)
    base = {name: name if name in known else split_name(name)[0] for name in names}
    unknown = [name for name in names if base[name] not in known]
    if unknown:
        hint = ("" if module else "; a custom arm needs `arms_module` MODULE, the module whose "
                "ARMS dict defines it (run from the folder that holds it)")
        raise SweepqError(f"unknown arm {', '.join(unknown)}: known arms are "
                          f"{', '.join(sorted(known))} (ARM@SET uses prompt set SET){hint}")
    for name in names:
        set_name = set_name_of(name, known)
        if sets is not None and set_name not in sets:
            raise SweepqError(f"arm {name} uses prompt set {set_name!r}, which the sweep does "
                              f"not have ({', '.join(sorted(sets))}): pass "
                              f"`prompts` {set_name}=FILE to enqueue")
    return {name: known[base[name]] for name in names}


def for_sweep(names: Sequence[str], sets: Mapping[str, PromptSet],
              module: str | None = None,
              scorer: Callable[[str, Task], tuple[bool, str]] | None = None) -> dict[str, Arm]:
    """The sweep's arms, each bound to its stored prompt set (`bind`), and to the sweep's
    scorer when they judge answers themselves (`echo-oracle`).

    A sweep stored before prompt sets existed has none: the built-in default set is then
    what its jobs were enqueued with.
    """
    sets = dict(sets) or {DEFAULT_NAME: default_set()}
    arms = validate(names, module, sets)
    known = registry(module)
    return {name: bind(arm, sets[set_name_of(name, known)], scorer)
            for name, arm in arms.items()}


def set_name_of(name: str, known: Mapping[str, Arm]) -> str:
    """The prompt set the arm `name` runs with: the default for a name `known` registers
    (even one holding `@`), else the SET of `ARM@SET`; options (`[KEY=VALUE]`) don't count."""
    plain = split_options(name)[0]
    return DEFAULT_NAME if plain in known else split_name(plain)[1]


def bind(arm: Arm, prompt_set: PromptSet,
         scorer: Callable[[str, Task], tuple[bool, str]] | None = None) -> Arm:
    """The arm as a sweep runs it: the task prompt rendered from `prompt_set`.

    An arm with a `prompts` parameter (every built-in) also gets the set itself, for its
    personas, judge and max_tokens; any other arm sees the set through `task.prompt`.
    """
    takes_set = _takes_prompts(arm)
    if scorer is not None and _takes(arm, "scorer"):
        arm = functools.partial(arm, scorer=scorer)

    framing = prompt_set.transport

    @functools.wraps(arm)
    def bound(task: Task, client: ArmClient) -> str:
        task = replace(task, prompt=benchmarks.render(task, prompt_set))
        if framing.system == "inline":
            client = FramedClient(client, framing)
        return arm(task, client, prompts=prompt_set) if takes_set else arm(task, client)

    return bound


class FramedClient:
    """The arm's client with the set's transport applied to every call: an inline system
    text goes into the one user message (`transport.Transport.frame`), so every backend,
    the journal and `requests` see exactly what the model is sent."""

    def __init__(self, client: ArmClient, framing: Transport) -> None:
        self.client, self.framing = client, framing

    def call(self, model: str, prompt: str, *, system: str | None = None,
             max_tokens: int | None = None) -> str:
        system, prompt = self.framing.frame(system, prompt)
        return self.client.call(model, prompt, system=system, max_tokens=max_tokens)

    def call_many(self, requests: Sequence[tuple[str, str, str | None]],
                  max_tokens: int | None = None) -> list[str]:
        framed = [(model, *reversed(self.framing.frame(system, prompt)))
                  for model, prompt, system in requests]
        return self.client.call_many(framed, max_tokens=max_tokens)


def _takes_prompts(arm: Arm) -> bool:
    return _takes(arm, "prompts")


def _takes(arm: Arm, parameter: str) -> bool:
    try:
        return parameter in inspect.signature(arm).parameters
    except (TypeError, ValueError):  # a callable inspect cannot read takes none
        return False
