"""The commands that show what a sweep will send and what it will cost, before it is
paid for: prompts (show, init), requests, estimate."""

from __future__ import annotations

import json

import click

from ..errors import SweepqError
from .base import _queue, main, sweep_option


@main.group("prompts")
def prompts_group() -> None:
    """Prompt sets: every text the built-in arms and the BBH prompts send, as TOML.

    \b
    sweepq prompts init my-prompts.toml        # the default set, to edit
    sweepq enqueue ... --prompts my-prompts.toml
    sweepq prompts show --sweep bbh-n99
    """


@prompts_group.command("show")
@sweep_option
@click.option("--set", "set_name", default=None, metavar="NAME",
              help="Only this set (default: every set of the sweep).")
@click.pass_context
def prompts_show(ctx: click.Context, name: str | None, set_name: str | None) -> None:
    """Print the prompt sets a sweep stored, exactly as given, each after a header line."""
    from ..prompts import DEFAULT_NAME, default_set

    queue = _queue(ctx, reads_only=True)
    sweep = queue.resolve_sweep(name)
    sets = sweep.prompts or {DEFAULT_NAME: default_set()}
    if set_name is not None and set_name not in sets:
        raise SweepqError(f"sweep {sweep.name!r} has no prompt set {set_name!r} "
                          f"(it has {', '.join(sorted(sets))})")
    stored = "" if sweep.prompts else " (built in: the sweep predates stored prompt sets)"
    for each, prompt_set in sorted(sets.items()):
        if set_name in (None, each):
            click.echo(f"# prompt set {each} of sweep {sweep.name}, sha256 "
                       f"{prompt_set.sha256}{stored}")
            click.echo(prompt_set.text.rstrip("\n"))


@prompts_group.command("init")
@click.argument("path", metavar="FILE")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def prompts_init(path: str, force: bool) -> None:
    """Write the built-in default prompt set to FILE (`-`: stdout), to edit."""
    from pathlib import Path

    from ..atomicfile import atomic_output
    from ..prompts import default_set

    if path != "-" and Path(path).exists() and not force:
        raise SweepqError(f"{path} exists: pass --force to replace it")
    with atomic_output(path) as out:
        out.write(default_set().text)
    if path != "-":
        click.echo(f"wrote the default prompt set to {path}")


@main.command("requests")
@sweep_option
@click.option("--task", "task_ids", multiple=True,
              help="A task id, e.g. bbh/navigate/3 (repeatable; with --json, default: all).")
@click.option("--arm", "arm_names", multiple=True,
              help="An arm, e.g. echo-judge or haiku-only@terse (repeatable; with --json, "
              "default: all).")
@click.option("--arms-module", default=None, help="A module whose ARMS dict adds custom arms.")
@click.option("--json", "as_json", is_flag=True,
              help="Each call as each backend sends it: the API's model, system, messages "
              "and max_tokens, the Claude CLI's argv and stdin.")
@click.option("--claude-bin", default="claude", show_default=True,
              help="The Claude CLI binary named in argv (with --json).")
@click.pass_context
def requests_cmd(ctx: click.Context, name: str | None, task_ids: tuple[str, ...],
                 arm_names: tuple[str, ...], arms_module: str | None, as_json: bool,
                 claude_bin: str) -> None:
    """Print the system and user text of each call an arm would make for a task.

    Nothing is sent: replies are placeholders that agree on nothing, so judge and
    escalation calls are shown too.

    \b
    sweepq requests --sweep bbh-n99 --task bbh/navigate/3 --arm echo-judge
    sweepq requests --sweep bbh-n99 --json > requests.json   # every task and arm
    """
    from .. import preview

    queue = _queue(ctx, reads_only=True)
    sweep = queue.resolve_sweep(name)
    if as_json:
        pairs = preview.all_pairs(queue, sweep, task_ids, arm_names)
        click.echo(json.dumps(preview.as_json(queue, sweep, pairs, arms_module, claude_bin),
                              indent=2, ensure_ascii=False))
        return
    if len(task_ids) != 1 or len(arm_names) != 1:
        raise SweepqError("pass one `task` and one `arm` (or --json for many)")
    calls = preview.requests_for(queue, sweep, task_ids[0], arm_names[0], arms_module)
    click.echo(preview.render(calls, sweep.models))


@main.command("estimate")
@sweep_option
@click.option("--output-tokens", type=click.IntRange(0, 128_000),
              default=256, show_default=True,
              help="Output tokens assumed per call (a CoT reply runs to a few hundred).")
@click.option("--count", "method", type=click.Choice(["auto", "api", "chars"]),
              default="auto", show_default=True,
              help="Input tokens by Anthropic's count_tokens endpoint (api; auto: when "
                   "ANTHROPIC_API_KEY is set) or four characters a token (chars).")
@click.option("--cache", type=click.Choice(["5m", "1h"]), default="5m", show_default=True,
              help="The prompt caching lifetime `work --cache` will use.")
@click.option("--arms-module", default=None, help="A module whose ARMS dict adds custom arms.")
@click.option("--json", "as_json", is_flag=True, help="The estimate as JSON.")
@click.pass_context
def estimate_cmd(ctx: click.Context, name: str | None, output_tokens: int, method: str,
                 cache: str, arms_module: str | None, as_json: bool) -> None:
    """Expected cost of the sweep's unfinished jobs, per arm: live or by batch, with
    prompt caching or without. Nothing is sent but token counts (docs/cost.md).

    \b
    sweepq estimate --sweep bbh-cot
    sweepq estimate --count chars --output-tokens 300 --json
    """
    from .. import estimate

    queue = _queue(ctx, reads_only=True)
    sweep = queue.resolve_sweep(name)
    counted_by, counter = estimate.counter_for(method)
    found = estimate.estimate(queue, sweep, counter, output_tokens, cache, arms_module)
    data = estimate.as_json(found, counted_by, output_tokens, cache)
    click.echo(json.dumps(data, indent=2) if as_json else estimate.render(data))
