"""Backends: what sends one model call, behind the documented `Backend` protocol.

The real `anthropic` SDK (honours ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL; the SDK's
own retries off, since sweepq owns retry policy) and the Claude CLI (`claude --print`,
for subscription users). Other vendors' backends are in `vendors/`, the fake API's
in-process one in `fake/inprocess.py`; `models.JobClient` is what arms call, on top.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from . import caching, tls
from .claude_run import run_claude
from .errors import SweepqError
from .failures import CallFailed, Failure
from .failures.cli import classify_cli, parse_output
from .leases import check_now
from .transport import cli_argv
from .usage import Usage

DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True)
class Reply:
    """One successful model call."""

    text: str
    usage: Usage = Usage()            # cost_usd set only by backends that report it (the CLI)
    stop_reason: str | None = None    # end_turn, max_tokens, refusal, … (None: not reported)
    headers: Any = field(default=None, compare=False, repr=False)  # the response's, for pacing
    cache_write_1h_tokens: int = 0    # of usage's cache writes, those for 1 hour (2x price)


class Backend(Protocol):
    """What makes one model call: the only thing `JobClient` needs from a backend.

    `send(model, system, prompt, max_tokens)` sends one user turn (`prompt`) to the model
    id `model` (aliases are already resolved), with `system` as the system prompt when
    not None and at most `max_tokens` output tokens. It makes one attempt: no retries,
    no sleeping; `JobClient` and the worker own retry and pause policy.

    Returns a `Reply`: the text of the answer's text blocks joined, and a `Usage` with the
    token counts the service reported and `cost_usd` only when it reports a cost itself.

    Raises, for any failure, either an exception `failures.api.classify` understands (the
    `anthropic` SDK's `APIStatusError`/`APIConnectionError` family, `httpx2` transport
    errors, `OSError`s) or `CallFailed` carrying an already-classified `Failure`
    (what a backend raises when only it can read the failure, as the CLI backend does).
    Anything else is classified as transient with its message.

    Must be safe to call from several threads at once. Implementations:
    `AnthropicBackend`, `ClaudeCliBackend`, and `sweepq.fake.inprocess.InProcessBackend`
    (the fake API in-process, for tests and offline dry runs).
    """

    def send(self, model: str, system: str | None, prompt: str, max_tokens: int) -> Reply: ...


class AnthropicBackend:
    """The real SDK. One client per process: its HTTP connection pool is shared by threads."""

    # The prompt caching lifetime of a long system text (`caching.system_param`), or off.
    cache_ttl = "5m"
    warmup = caching.Warmup()   # per class: one per process, the sending threads share it

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, max_connections: int = 64):
        import anthropic
        import httpx2 as httpx

        if not (os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
            raise SweepqError("ANTHROPIC_API_KEY is not set: export it (or use `backend` "
                              "claude-cli for a subscription)")
        limits = httpx.Limits(max_connections=max_connections,
                              max_keepalive_connections=max_connections)
        self.client = anthropic.Anthropic(
            max_retries=0, timeout=timeout,
            http_client=anthropic.DefaultHttpxClient(
                limits=limits, verify=tls.context(), event_hooks={"request": [check_now]}))

    def send(self, model: str, system: str | None, prompt: str, max_tokens: int) -> Reply:
        param = caching.system_param(model, system, self.cache_ttl) if system else None
        kwargs = {"system": param} if param else {}
        # A cached prefix: its first call answered before the others go (caching.Warmup).
        gate = self.warmup.turn((model, system)) if isinstance(param, list) \
            else contextlib.nullcontext()
        with gate:
            # The raw response: its rate-limit headers pace the governor, successes too.
            raw = self.client.messages.with_raw_response.create(
                model=model, max_tokens=max_tokens,
                messages=[{"role": "user", "content": prompt}], **kwargs)
        message = raw.parse()
        text = "".join(block.text for block in message.content if block.type == "text")
        return Reply(text=text, usage=caching.usage_of(message.usage),
                     stop_reason=message.stop_reason, headers=raw.headers,
                     cache_write_1h_tokens=caching.hour_writes(message.usage))


class ClaudeCliBackend:
    """`claude -p` for subscription users; the prompt goes on stdin.

    `--output-format stream-json --verbose` is asked for because only the stream
    carries the `rate_limit_event` with the exact reset second; the reply is read
    from the stream's `result` line. A CLI that answers with one JSON object or
    plain text instead is understood too. `--setting-sources ""` keeps the user's
    project settings (CLAUDE.md, hooks) out of benchmark answers. The CLI's own
    retries are off and `timeout` is a limit on silence (`claude_run`).
    """

    def __init__(self, binary: str = "claude", timeout: float = DEFAULT_TIMEOUT,
                 style: tuple[str, str] = ("stdin", "json")):
        found = shutil.which(binary)
        if found is None:
            raise SweepqError(f"Claude CLI {binary!r} not found: install it or pass "
                              "`claude_bin` PATH")
        # style: the prompt sets' transport (`transport.cli_argv`): (cli_prompt, cli_reply)
        self.binary, self.timeout, self.style = found, timeout, style

    def send(self, model: str, system: str | None, prompt: str, max_tokens: int) -> Reply:
        argv, stdin = cli_argv(self.binary, model, system, prompt, self.style)
        try:
            run = run_claude(argv, stdin, self.timeout)
        except OSError as exc:          # its message would name the binary's path
            raise CallFailed(Failure("transient", None, "claude CLI could not start: "
                                     f"{exc.strerror or type(exc).__name__}")) from None
        if run.stopped == "hung":
            raise CallFailed(Failure("transient", None, f"claude CLI printed nothing for "
                                     f"{self.timeout:g}s: stopped as hung"))
        # Stopped at its first retry: the failure it was retrying decides, as if it had
        # given up at once.
        code = 1 if run.stopped == "retrying" else run.returncode
        plain = self.style[1] == "text"
        failure = classify_cli(code, run.stdout, run.stderr, plain=plain)
        if failure is not None:
            raise CallFailed(failure)
        return cli_text(run.stdout) if plain else cli_reply(run.stdout)


def cli_text(stdout: str) -> Reply:
    """A plain-text run's reply (`cli_reply = "text"`): stdout right-stripped, as the old
    runner read it; no usage (the CLI reports none in this mode)."""
    return Reply(text=stdout.rstrip())


def cli_reply(stdout: str) -> Reply:
    """The reply in a successful CLI run's output: its `result` line, else the plain text."""
    result = parse_output(stdout).result
    if result is None:
        return Reply(text=stdout.strip())
    text = result.get("result")
    # The CLI's own bill (`total_cost_usd`) wins: it prices its 1-hour cache writes itself.
    usage = replace(caching.usage_of(result.get("usage") or {}),
                    cost_usd=result.get("total_cost_usd"))
    return Reply(text=text if isinstance(text, str) else "", usage=usage)
