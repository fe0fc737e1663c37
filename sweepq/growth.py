"""Growing a sweep: more arms, more subtasks or a larger n on a sweep that exists.

Why: adding one arm to a finished sweep is the everyday move of this research (a new
routing idea, paired by McNemar with the arms already run on the same tasks). A second
sweep would not pair; so `enqueue` on an existing sweep may grow it, adding exactly the
jobs it lacks. Anything else that differs (start, data set, benchmark, scorer, a model alias's id,
a prompt set's content) would mix two experiments under one name, and is refused naming
the setting.

The grown sweep keeps what was there first: stored arms and subtasks in their order, new
ones after, in the order given; so the canonical order of the old jobs among themselves,
and so `export --order canonical` of them, stays what it was.
"""

from __future__ import annotations

from dataclasses import replace

from .errors import SweepqError
from .records import Sweep

GROWABLE = "more arms, more subtasks or a larger n_per_subtask"


def _refuse(name: str, what: str) -> SweepqError:
    return SweepqError(f"sweep {name!r} already exists with other settings: {what}; a sweep "
                       f"grows only by {GROWABLE}: choose another `sweep` name")


def merged(existing: Sweep, given: Sweep) -> Sweep:
    """`existing` grown by what `given` adds, or a refusal naming the first setting that
    differs otherwise."""
    name = existing.name
    existing = _continued(existing, given)
    for setting in ("benchmark", "start", "dataset", "scorer", "options"):
        old, new = getattr(existing, setting), getattr(given, setting)
        if setting == "benchmark" and old is None and not existing.has_meta:
            continue   # a file from before `_meta` never named it (its export never will)
        if old != new:
            raise _refuse(name, f"{setting} is {old!r}, given {new!r}")
    if existing.n_per_subtask is None or given.n_per_subtask is None:
        if existing.n_per_subtask != given.n_per_subtask:
            raise _refuse(name, f"n_per_subtask is {existing.n_per_subtask!r}, given "
                          f"{given.n_per_subtask!r}")
    changed = sorted(a for a in set(existing.models) & set(given.models)
                     if existing.models[a] != given.models[a])
    if changed:
        alias = changed[0]
        raise _refuse(name, f"model alias {alias} is {existing.models[alias]}, given "
                      f"{given.models[alias]} (change an alias with `sweepq models`)")
    old_sets, new_sets = existing.prompt_digests(), given.prompt_digests()
    differing = sorted(s for s in set(old_sets) & set(new_sets) if old_sets[s] != new_sets[s])
    if differing:
        raise SweepqError(f"sweep {name!r} already exists with other prompt sets (set "
                          f"{differing[0]}: stored {old_sets[differing[0]][:12]}, given "
                          f"{new_sets[differing[0]][:12]}): choose another `sweep` name, "
                          "or see `sweepq prompts show`")
    added_sets = {s: ps for s, ps in given.prompts.items() if s not in old_sets}
    return replace(
        existing,
        arms=[*existing.arms, *(a for a in given.arms if a not in existing.arms)],
        subtasks=[*existing.subtasks, *(s for s in given.subtasks if s not in existing.subtasks)],
        n_per_subtask=(None if existing.n_per_subtask is None
                       else max(existing.n_per_subtask, given.n_per_subtask or 0)),
        models={**given.models, **existing.models},
        prompts={**existing.prompts, **added_sets} if existing.prompts or not added_sets
        else {**given.prompts},
    )


def _continued(existing: Sweep, given: Sweep) -> Sweep:
    """A sweep imported from a file without `_meta` (the team's HumanEval n50) said nothing
    of its selection, n, start, data or options: the first enqueue that continues it says
    them, and the imported results stay. Its benchmark stays unnamed, so its export keeps
    the file's shape (rows without `benchmark`) as it grows."""
    if existing.has_meta or existing.subtasks or existing.n_per_subtask is not None:
        return existing
    return replace(existing, subtasks=[], n_per_subtask=given.n_per_subtask,
                   start=given.start, dataset=given.dataset, options=given.options)


def grows(existing: Sweep, sweep: Sweep) -> bool:
    """False when `sweep` is `existing` as stored; True when it is a growth of it in the
    form `merged` makes (old arms and subtasks first, in order); a refusal otherwise."""
    if (existing.settings() == sweep.settings()
            and existing.prompt_digests() == sweep.prompt_digests()):
        return False
    grown = merged(existing, sweep)
    if grown.settings() != sweep.settings() or \
            grown.prompt_digests() != sweep.prompt_digests():
        raise _refuse(existing.name, f"arms {existing.arms}, subtasks {existing.subtasks}, "
                      f"n {existing.n_per_subtask}; given arms {sweep.arms}, subtasks "
                      f"{sweep.subtasks}, n {sweep.n_per_subtask} (a grown sweep keeps the "
                      "stored arms and subtasks first, in their order)")
    return True
