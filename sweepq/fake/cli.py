"""`sweepq fake-api`: serve the fake Messages API until SIGINT/SIGTERM.

Loaded only when asked for (sweepq's command group imports this module lazily), so
every other command starts without it.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import click

from . import documented
from .config import KNOWN_MODELS, SPEND_LIMITS, FakeConfig
from .server import FakeAPI, Loopback


def _parse_pairs(value: str | None, sep: str, param: str, key_type: Callable[[str], Any],
                 what: str) -> dict:
    out: dict = {}
    for item in (value or "").split(","):
        item = item.strip()
        if not item:
            continue
        k, s, v = item.partition(sep)
        try:
            if not s:
                raise ValueError
            key, rate = key_type(k.strip()), float(v)
        except ValueError:
            raise click.BadParameter(f"expected {what}, got {item!r}", param_hint=param) from None
        if not 0.0 <= rate <= 1.0:
            raise click.BadParameter(f"rate for {k.strip()} must be in [0, 1], got {v}",
                                     param_hint=param)
        out[key] = rate
    return out


def _status(s: str) -> int:
    n = int(s)
    if not 400 <= n <= 599:
        raise ValueError
    return n


def _nonneg(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and value < 0:
        raise click.BadParameter(f"must be >= 0, got {value}")
    return value


def _rate(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise click.BadParameter(f"must be in [0, 1], got {value}")
    return value


def _read_key(path: str | None) -> dict[str, str] | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            key = json.load(f)
    except (OSError, ValueError) as e:
        raise click.BadParameter(f"cannot read {path}: {e}".replace("\n", " "),
                                 param_hint="--answer-key") from None
    if not isinstance(key, dict) or not all(isinstance(v, str) for v in key.values()):
        raise click.BadParameter("must be a JSON object of prompt -> gold string",
                                 param_hint="--answer-key")
    return key


def _spend_window(kind: str | None, after: int | None, seconds: float) -> tuple[int | None, float]:
    """`--spend-limit` alone: the limit is spent from the first request until it resets
    as documented (00:00 UTC on the 1st of next month)."""
    if kind is None or after is not None:
        return after, seconds
    return 0, documented.next_month_utc(time.time()).timestamp() - time.time()


@click.command("fake-api", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--vendor", type=click.Choice(["anthropic", "openai", "gemini"]),
              default="anthropic", show_default=True,
              help="Whose API to serve: Anthropic's Messages; OpenAI's Chat Completions and "
              "Responses (base URL: the printed URL + /v1); Gemini's generateContent. For "
              "the last two only --host, --port, --latency-ms, --seed, --answer-key, "
              "--accuracy, --prompts, --models, --api-key (the first) and --exhaust-after "
              "(then the vendor's exhaustion error for ever) apply.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=0, type=click.IntRange(0, 65535), show_default=True,
              help="Port to bind; 0 picks a free one (printed on start).")
@click.option("--latency-ms", default=0.0, type=float, callback=_nonneg,
              help="Delay before each /v1/messages answer.")
@click.option("--seed", default=0, type=int, help="Seed for answers and fault draws.")
@click.option("--answer-key", "answer_key", type=click.Path(dir_okay=False),
              help="JSON object mapping user prompt text to the gold answer.")
@click.option("--accuracy", help="P(correct) by model substring, e.g. haiku=0.7,sonnet=0.9.")
@click.option("--faults", help="Fault rates by status, e.g. 529:0.1,500:0.05,429:0.05.")
@click.option("--resets", default=0.0, type=float, callback=_rate,
              help="Share of requests whose connection is dropped without a response.")
@click.option("--retry-after", type=float, callback=_nonneg,
              help="Seconds sent as retry-after on fault 429s.")
@click.option("--exhaust-after", type=click.IntRange(min=0),
              help="Successful requests before the spend-limit window starts.")
@click.option("--exhaust-for", default=0.0, type=float, callback=_nonneg,
              help="Seconds the spend-limit window lasts.")
@click.option("--spend-limit", type=click.Choice(SPEND_LIMITS),
              help="Which documented spend-limit error the window sends (default tier: the "
                   "429 with details.error_code). Alone: spent until 00:00 UTC on the 1st.")
@click.option("--credit-exhausted", is_flag=True, help="Answer every request 'credit too low'.")
@click.option("--api-key", "api_keys", multiple=True,
              help="Accept only this x-api-key (repeatable).")
@click.option("--models", "models", help="Comma-separated model ids served; any other is a "
              f"404 not_found_error. Default: {','.join(KNOWN_MODELS)} (and dated forms).")
@click.option("--prompts", "prompt_files", multiple=True, metavar="FILE",
              help="A prompt set whose prompts to recognise, as a sweep enqueued with "
              "--prompts sends them (repeatable).")
@click.option("--rpm", type=click.FloatRange(min=0, min_open=True),
              help="Rate limit: requests per minute (a continuously refilled bucket).")
@click.option("--itpm", type=click.FloatRange(min=0, min_open=True),
              help="Rate limit: input tokens per minute.")
@click.option("--otpm", type=click.FloatRange(min=0, min_open=True),
              help="Rate limit: output tokens per minute.")
@click.option("--bucket-seconds", default=60.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="Seconds of refill each limit's bucket holds (1: 60 RPM as 1 a second).")
@click.option("--bucket-start", type=click.Choice(["full", "empty"]), default="full",
              show_default=True, help="Buckets full (a fresh key) or empty (mid-sweep).")
@click.option("--batch-seconds", default=0.0, type=float, callback=_nonneg,
              help="Seconds a message batch takes to end.")
@click.option("--batch-errored", default=0.0, type=float, callback=_rate,
              help="Share of batch requests that end errored (api_error).")
@click.option("--batch-expired", default=0.0, type=float, callback=_rate,
              help="Share of batch requests that end expired.")
def fake_api_command(vendor: str, host: str, port: int, latency_ms: float, seed: int,
                     answer_key: str | None, accuracy: str | None, faults: str | None,
                     resets: float, retry_after: float | None, exhaust_after: int | None,
                     exhaust_for: float, spend_limit: str | None, credit_exhausted: bool,
                     api_keys: tuple[str, ...], models: str | None,
                     prompt_files: tuple[str, ...], rpm: float | None,
                     itpm: float | None, otpm: float | None, bucket_seconds: float,
                     bucket_start: str, batch_seconds: float, batch_errored: float,
                     batch_expired: float) -> None:
    """Serve a fake Anthropic Messages API (or --vendor openai|gemini) on loopback until
    SIGINT/SIGTERM."""
    from sweepq.errors import SweepqError
    from sweepq.prompts import read_file

    try:
        prompt_sets = tuple(read_file(path) for path in prompt_files)
    except SweepqError as e:
        raise click.BadParameter(str(e), param_hint="--prompts") from None
    exhaust_after, exhaust_for = _spend_window(spend_limit, exhaust_after, exhaust_for)
    cfg = FakeConfig(
        latency_ms=latency_ms, seed=seed, answer_key=_read_key(answer_key),
        accuracy=_parse_pairs(accuracy, "=", "--accuracy", str, "MODEL=RATE"),
        faults=_parse_pairs(faults, ":", "--faults", _status, "STATUS:RATE (status 400-599)"),
        reset_rate=resets, retry_after=retry_after, exhaust_after=exhaust_after,
        exhaust_for=exhaust_for, spend_limit=spend_limit or "tier",
        credit_exhausted=credit_exhausted, valid_api_keys=set(api_keys) if api_keys else None,
        models=tuple(m.strip() for m in models.split(",") if m.strip()) if models is not None
        else KNOWN_MODELS, prompt_sets=prompt_sets,
        rpm=rpm, itpm=itpm, otpm=otpm, bucket_seconds=bucket_seconds, bucket_start=bucket_start,
        batch_seconds=batch_seconds, batch_errored=batch_errored, batch_expired=batch_expired,
    )
    try:
        cfg.validate()
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    fake = FakeAPI(cfg, host=host, port=port) if vendor == "anthropic" else \
        _vendor_fake(vendor, cfg, host, port, api_keys, models)
    try:
        fake.start()
    except OSError as e:
        raise click.BadParameter(f"cannot listen on {host}:{port}: {e.strerror or e}",
                                 param_hint="--host/--port") from None
    _serve_until_signal(fake)


def _vendor_fake(vendor: str, cfg: FakeConfig, host: str, port: int,
                 api_keys: tuple[str, ...], models: str | None) -> Loopback:
    """OpenAI's or Gemini's fake, answering as `cfg` says; any model unless --models."""
    from .gemini import FakeGemini
    from .openai import FakeOpenAI

    served = tuple(m.strip() for m in models.split(",") if m.strip()) if models else None
    make = FakeOpenAI if vendor == "openai" else FakeGemini
    return make(cfg, host=host, port=port, models=served,
                api_key=api_keys[0] if api_keys else None, quota_after=cfg.exhaust_after)


def _serve_until_signal(fake: Loopback) -> None:
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        click.echo(f"fake-api listening on {fake.url}")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        fake.stop()
        for s, h in old.items():
            signal.signal(s, h)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI (``python -m sweepq.fake --port 0``)."""
    fake_api_command.main(args=argv, prog_name="sweepq fake-api")
