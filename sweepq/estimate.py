"""`sweepq estimate`: what the sweep's unfinished jobs will cost, before paying.

Why: a few-shot sweep's price depends on how it runs: live or by Message Batches (half
price), with its repeated prefix cached or not. Each arm runs for real, bound to the
sweep's stored prompt set, against the recording client of `sweepq requests`
(preview.py), so the estimate is of exactly what would be sent: every call's input is
counted (Anthropic's `count_tokens` endpoint when an API key is set, else four
characters a token), and priced by `models.price` under four plans.

What it assumes, and says: each arm takes its longest path (every escalation: an upper
bound for the echo arms); each call writes `output_tokens`; a prefix long enough to be
cached (caching.py) is written once per model and system text and read by every other
call that repeats it (the claim order takes a subtask's tasks together, and the batch
runner groups its requests); live calls run one after another within its lifetime
(concurrent first calls of a group may each write it).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import arm_registry, caching, tls
from .errors import SweepqError
from .models import price
from .preview import DryClient, Request
from .prompts import UNSET_MAX_TOKENS
from .queue import Queue
from .records import Sweep
from .redact import mask
from .task import Task
from .usage import Usage

PLANS = ("live", "live_cached", "batch", "batch_cached")
BATCH_FACTOR = 0.5
DEFAULT_OUTPUT_TOKENS = 256

Counter = Callable[[str, str | None, str], int]   # (model, system, prompt) -> input tokens


@dataclass
class ArmEstimate:
    """One arm's expected calls, tokens and cost under each plan (None: a model unpriced)."""

    arm: str
    jobs: int = 0
    calls: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0          # of input_tokens, the prefix tokens a cache could serve
    usd: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(PLANS, 0.0))

    def add(self, plan: str, cost: float | None) -> None:
        have = self.usd[plan]
        self.usd[plan] = None if have is None or cost is None else have + cost


def char_counter(model: str, system: str | None, prompt: str) -> int:
    """Input tokens by the character estimate (no key, or `--count chars`)."""
    return caching.estimate_tokens((system or "") + prompt)


def api_counter() -> Counter:
    """Input tokens by Anthropic's `count_tokens` endpoint (the SDK, its own retries)."""
    import anthropic

    client = anthropic.Anthropic(
        max_retries=2, http_client=anthropic.DefaultHttpxClient(verify=tls.context()))

    def count(model: str, system: str | None, prompt: str) -> int:
        kwargs: dict[str, Any] = {"system": system} if system else {}
        try:
            return client.messages.count_tokens(
                model=model, messages=[{"role": "user", "content": prompt}],
                **kwargs).input_tokens
        except anthropic.APIError as exc:
            raise SweepqError(f"count_tokens failed ({mask(str(exc))[:200]}): check the key "
                              "and the network, or pass `count` chars") from None

    return count


def counter_for(method: str) -> tuple[str, Counter]:
    """`api`: `count_tokens`; `chars`: the character estimate; `auto`: the endpoint when
    an API key is set. SweepqError when `api` is asked for without a key."""
    has_key = bool(os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN"))
    if method == "api" and not has_key:
        raise SweepqError("count_tokens needs ANTHROPIC_API_KEY: export it, or pass `count` "
                          "chars")
    if method == "api" or (method == "auto" and has_key):
        return "count_tokens", api_counter()
    return "characters (4 a token)", char_counter


def estimate(queue: Queue, sweep: Sweep, count: Counter, output_tokens: int,
             ttl: str = "5m", module: str | None = None) -> list[ArmEstimate]:
    """Per arm, the expected cost of the sweep's jobs not done yet."""
    rows = queue.read("SELECT arm, task FROM jobs WHERE sweep = ? AND state != 'done'"
                      " ORDER BY position", (sweep.name,))
    bound = arm_registry.for_sweep(sweep.arms, sweep.prompts, module)
    out = {arm: ArmEstimate(arm) for arm in sweep.arms}
    counted: dict[tuple[str, str | None, str], int] = {}
    seen: set[tuple[str, str]] = set()       # (model, system) prefixes already written
    for row in rows:
        client = DryClient()
        bound[row["arm"]](Task.from_payload(json.loads(row["task"])), client)
        entry = out.setdefault(row["arm"], ArmEstimate(row["arm"]))
        entry.jobs += 1
        for request in client.requests:
            _add_call(entry, request, sweep.models, count, counted, seen, output_tokens, ttl)
    return list(out.values())


def _add_call(entry: ArmEstimate, r: Request, models: dict[str, str], count: Counter,
              counted: dict[tuple[str, str | None, str], int], seen: set[tuple[str, str]],
              output_tokens: int, ttl: str) -> None:
    """One call's tokens, and its cost under each plan."""
    model = models.get(r.model, r.model)
    key = (model, r.system, r.prompt)
    if key not in counted:
        counted[key] = count(model, r.system, r.prompt)
    tokens = counted[key]
    out = min(output_tokens, r.max_tokens or UNSET_MAX_TOKENS)
    plain = Usage(input_tokens=tokens, output_tokens=out)
    cached, hour = plain, 0
    if r.system and caching.worth_caching(model, r.system, ttl):
        # The prefix alone, counted the same way (a one-character turn: a request needs one).
        if (model, r.system, ".") not in counted:
            counted[(model, r.system, ".")] = count(model, r.system, ".")
        prefix = min(counted[(model, r.system, ".")], tokens)
        first = (model, r.system) not in seen
        seen.add((model, r.system))
        cached = Usage(input_tokens=tokens - prefix, output_tokens=out,
                       cache_write_tokens=prefix if first else 0,
                       cache_read_tokens=0 if first else prefix)
        hour = prefix if first and ttl == "1h" else 0
        entry.cached_tokens += prefix
    entry.calls += 1
    entry.input_tokens += tokens
    live, live_cached = price(model, plain), price(model, cached, hour)
    for plan, cost in (("live", live), ("live_cached", live_cached)):
        entry.add(plan, cost)
        batch = None if cost is None else cost * BATCH_FACTOR
        entry.add(plan.replace("live", "batch"), batch)


def as_json(estimates: Sequence[ArmEstimate], method: str, output_tokens: int,
            ttl: str) -> dict[str, Any]:
    """`estimate --json`: per arm and in total, USD under each plan."""
    total: dict[str, float | None] = dict.fromkeys(PLANS, 0.0)
    for e in estimates:
        for plan in PLANS:
            have, add = total[plan], e.usd[plan]
            total[plan] = None if have is None or add is None else have + add
    return {"counted_by": method, "output_tokens_per_call": output_tokens, "cache": ttl,
            "arms": [{"arm": e.arm, "jobs": e.jobs, "calls": e.calls,
                      "input_tokens": e.input_tokens, "cacheable_tokens": e.cached_tokens,
                      "usd": {p: _round(v) for p, v in e.usd.items()}} for e in estimates],
            "total_usd": {p: _round(v) for p, v in total.items()}}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def render(data: dict[str, Any]) -> str:
    """The estimate as an aligned table, with what it assumed."""
    def usd(v: float | None) -> str:
        return "unknown" if v is None else f"${v:,.4f}"

    width = max([len(a["arm"]) for a in data["arms"]] + [5])
    lines = [f"  {'arm':<{width}}  {'jobs':>5}  {'calls':>6}  {'input tok':>10}  "
             + "  ".join(f"{p:>13}" for p in PLANS)]
    by = defaultdict(dict)
    for a in data["arms"]:
        by[a["arm"]] = a
        lines.append(f"  {a['arm']:<{width}}  {a['jobs']:>5,}  {a['calls']:>6,}  "
                     f"{a['input_tokens']:>10,}  "
                     + "  ".join(f"{usd(a['usd'][p]):>13}" for p in PLANS))
    lines.append(f"  {'total':<{width}}  {'':>5}  {'':>6}  {'':>10}  "
                 + "  ".join(f"{usd(data['total_usd'][p]):>13}" for p in PLANS))
    lines += ["", f"  input tokens counted by {data['counted_by']}; "
              f"{data['output_tokens_per_call']} output tokens a call assumed "
              "(--output-tokens); every arm on its longest path (an upper bound for echo "
              f"arms); cached: lifetime {data['cache']}, a long enough system text written "
              "once per model, then read (docs/cost.md)."]
    return "\n".join(lines)
