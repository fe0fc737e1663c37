"""The statistics a sweep's results are judged by: pure functions, no SQL.

The definitions are the ones the team's earlier analysis used, so numbers
computed on old result files match:

- pass: passed / n, with a Wilson 95% score interval;
- escalated: `echo-judge`, `echo-judge[judge=…]` and `echo-judge-*` arms when
  sub_calls > 3, other `echo-*` arms when sub_calls > 2, never any other arm;
- cost units (a haiku call = 1, a sonnet call = 3): haiku-only = sub_calls x 1,
  sonnet-only = sub_calls x 3, judge arms = 3 (+3 when escalated), other echo
  arms = 2 (+3 when escalated), anything else = sub_calls x 1;
- oracle alignment (when `echo-oracle` ran): for each other echo arm, the share
  of the tasks both completed where the arm's escalate decision equals the
  oracle's;
- unparseable: rows whose detail is exactly `unparseable`;
- not answered: rows whose detail says the model gave no answer to score —
  `refusal`, `empty reply` or `cut off at max_tokens` — counted per kind
  (they are failures, like a wrong answer, but not the same failure);
- paired comparison against a baseline arm: on the tasks both completed, the
  discordant counts b (baseline right, arm wrong) and c (arm right, baseline
  wrong) and the exact two-sided McNemar p-value
  min(1, 2 * P(X <= min(b, c))), X ~ Binomial(b + c, 1/2); 1 when b + c = 0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

Z_95 = 1.959963984540054          # the 97.5th percentile of the standard normal
HAIKU_UNITS = 1
SONNET_UNITS = 3
ORACLE_ARM = "echo-oracle"
DEFAULT_BASELINE = "sonnet-only"
UNPARSEABLE = "unparseable"
# Details the worker writes when the model's reply holds no answer (from its stop_reason).
REFUSAL, EMPTY_REPLY, CUT_OFF = "refusal", "empty reply", "cut off at max_tokens"
NOT_ANSWERED = (REFUSAL, EMPTY_REPLY, CUT_OFF)
_EXACT_LIMIT = 2_000               # above this many discordant pairs, sum in log space


# -- the two tests ------------------------------------------------------------

def wilson_interval(passed: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval for passed/n (None when n = 0)."""
    if n <= 0:
        return None
    if not 0 <= passed <= n:
        raise ValueError(f"passed must be between 0 and n, not {passed} of {n}")
    p = passed / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value for b and c discordant pairs.

    p = min(1, 2 * P(X <= min(b, c))) with X ~ Binomial(b + c, 1/2); p = 1 when
    there are no discordant pairs.
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts cannot be negative")
    n, k = b + c, min(b, c)
    if n == 0:
        return 1.0
    if n <= _EXACT_LIMIT:
        tail = sum(math.comb(n, i) for i in range(k + 1))
        return min(1.0, 2 * tail / 2 ** n)
    logs = [_log_comb(n, i) - n * math.log(2) for i in range(k + 1)]
    top = max(logs)
    return min(1.0, 2 * math.exp(top) * sum(math.exp(v - top) for v in logs))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


# -- the arm definitions --------------------------------------------------------

def _base(arm: str) -> str:
    """The arm without its options and prompt set: `echo-judge[judge=gpt]@terse` routes as
    `echo-judge` does (options first: a judge's URL may hold an `@`)."""
    return arm.partition("[")[0].partition("@")[0]


def is_judge_arm(arm: str) -> bool:
    """`echo-judge` and any `echo-judge-*` arm (two cheap personas and a judge)."""
    arm = _base(arm)
    return arm == "echo-judge" or arm.startswith("echo-judge-")


def can_escalate(arm: str) -> bool:
    """Only `echo-*` arms escalate; the escalation columns are blank for the others."""
    return _base(arm).startswith("echo-")


def escalated(arm: str, sub_calls: int) -> bool:
    """Did this row escalate to the strong model? (judge arms > 3 calls, echo arms > 2)."""
    if is_judge_arm(arm):
        return sub_calls > 3
    if can_escalate(arm):
        return sub_calls > 2
    return False


def cost_units(arm: str, sub_calls: int) -> int:
    """Cost of one row in units of a haiku call (a sonnet call is 3)."""
    if _base(arm) == "haiku-only":
        return sub_calls * HAIKU_UNITS
    if _base(arm) == "sonnet-only":
        return sub_calls * SONNET_UNITS
    extra = SONNET_UNITS if escalated(arm, sub_calls) else 0
    if is_judge_arm(arm):
        return 3 * HAIKU_UNITS + extra
    if can_escalate(arm):
        return 2 * HAIKU_UNITS + extra
    return sub_calls * HAIKU_UNITS


# -- per-arm totals from buckets --------------------------------------------------

@dataclass
class ArmTotals:
    """What the status view shows per arm, accumulated from (possibly bucketed) rows."""

    arm: str
    n: int = 0
    passed: int = 0
    escalated: int = 0
    cost_units: int = 0
    unparseable: int = 0
    cost_usd: float = 0.0
    cost_usd_rows: int = 0

    def add(self, passed: bool, sub_calls: int, unparseable: bool, count: int = 1,
            cost_usd: float | None = None, cost_usd_rows: int = 0) -> None:
        """Add `count` rows that share passed, sub_calls and unparseable."""
        self.n += count
        self.passed += count * int(passed)
        self.escalated += count * int(escalated(self.arm, sub_calls))
        self.cost_units += count * cost_units(self.arm, sub_calls)
        self.unparseable += count * int(unparseable)
        if cost_usd is not None:
            self.cost_usd += cost_usd
        self.cost_usd_rows += cost_usd_rows

    def absorb(self, other: ArmTotals) -> None:
        """Add another arm's totals to these (the sweep's overall line)."""
        self.n += other.n
        self.passed += other.passed
        self.escalated += other.escalated
        self.cost_units += other.cost_units
        self.unparseable += other.unparseable
        self.cost_usd += other.cost_usd
        self.cost_usd_rows += other.cost_usd_rows


# -- the summary ------------------------------------------------------------------

class Row(NamedTuple):
    """One result, as the summary needs it."""

    task_id: str
    arm: str
    passed: bool
    detail: str
    sub_calls: int
    cost_usd: float | None = None


def summarize(rows: Iterable[Sequence[Any]], arms: Sequence[str] = (),
              baseline: str | None = None) -> dict[str, Any]:
    """Per-arm statistics and paired comparisons (the `summary --json` body).

    `rows` are `Row`s or tuples in the same order. `arms` gives the display
    order (arms seen only in `rows` follow); the baseline defaults to
    sonnet-only when it has results. A task seen twice for one arm counts
    once, the later row winning.
    """
    by_arm: dict[str, dict[str, tuple]] = {arm: {} for arm in arms}
    details: dict[str, dict[str, str]] = {arm: {} for arm in arms}
    for task_id, arm, passed, detail, sub_calls, cost in rows:
        tasks = by_arm.get(arm)
        if tasks is None:
            tasks = by_arm[arm] = {}
        tasks[task_id] = (bool(passed), sub_calls, detail == UNPARSEABLE, cost)
        details.setdefault(arm, {})[task_id] = detail
    with_results = [arm for arm, tasks in by_arm.items() if tasks]
    if baseline is None and DEFAULT_BASELINE in with_results:
        baseline = DEFAULT_BASELINE
    if baseline is not None and baseline not in by_arm:
        raise ValueError(f"baseline arm {baseline!r} is not in this sweep "
                         f"(arms: {', '.join(by_arm) or 'none'})")
    oracle = None
    if ORACLE_ARM in with_results:
        oracle = {task: escalated(ORACLE_ARM, v[1]) for task, v in by_arm[ORACLE_ARM].items()}
    out = []
    for arm, tasks in by_arm.items():
        t = _totals(arm, tasks)
        interval = wilson_interval(t.passed, t.n)
        record: dict[str, Any] = {
            "arm": arm,
            "n": t.n,
            "passed": t.passed,
            "pass_rate": _ratio(t.passed, t.n),
            "ci_low": None if interval is None else round(interval[0], 6),
            "ci_high": None if interval is None else round(interval[1], 6),
            "escalated": t.escalated if can_escalate(arm) else None,
            "escalation_rate": _ratio(t.escalated, t.n) if can_escalate(arm) else None,
            "cost_units": t.cost_units,
            "cost_units_per_task": _ratio(t.cost_units, t.n),
            "cost_usd": round(t.cost_usd, 6) if t.cost_usd_rows else None,
            "cost_usd_rows": t.cost_usd_rows,
            "unparseable": t.unparseable,
            "not_answered": not_answered(details.get(arm, {}).values()),
            "oracle_alignment": None,
            "vs_baseline": None,
        }
        if oracle is not None and arm != ORACLE_ARM and can_escalate(arm):
            record["oracle_alignment"] = _alignment(arm, tasks, oracle)
        if baseline is not None and arm != baseline:
            record["vs_baseline"] = _paired(tasks, by_arm[baseline], baseline)
        out.append(record)
    return {"baseline": baseline, "oracle": oracle is not None, "arms": out}


def not_answered(details: Iterable[str]) -> dict[str, int]:
    """How many results were a refusal, an empty reply, or cut off at max_tokens."""
    counted = Counter(detail for detail in details if detail in NOT_ANSWERED)
    return {kind: counted[kind] for kind in NOT_ANSWERED}


def _totals(arm: str, tasks: dict[str, tuple]) -> ArmTotals:
    totals = ArmTotals(arm)
    buckets = Counter((passed, sub_calls, unparseable)
                      for passed, sub_calls, unparseable, _ in tasks.values())
    for (passed, sub_calls, unparseable), count in buckets.items():
        totals.add(passed, sub_calls, unparseable, count)
    costs = [cost for *_, cost in tasks.values() if cost is not None]
    totals.cost_usd, totals.cost_usd_rows = sum(costs), len(costs)
    return totals


def _alignment(arm: str, tasks: dict[str, tuple], oracle: dict[str, bool]) -> dict[str, Any]:
    shared = [task for task in oracle if task in tasks]
    agree = sum(escalated(arm, tasks[task][1]) == oracle[task] for task in shared)
    return {"agree": agree, "n": len(shared), "rate": _ratio(agree, len(shared))}


def _paired(tasks: dict[str, tuple], base: dict[str, tuple], baseline: str) -> dict[str, Any]:
    n = arm_right = base_right = b = c = 0
    for task, (base_passed, *_) in base.items():
        row = tasks.get(task)
        if row is None:
            continue
        n += 1
        arm_right += row[0]
        base_right += base_passed
        if base_passed != row[0]:
            if base_passed:
                b += 1
            else:
                c += 1
    return {
        "baseline": baseline,
        "n": n,
        "arm_pass_rate": _ratio(arm_right, n),
        "baseline_pass_rate": _ratio(base_right, n),
        "baseline_right_arm_wrong": b,
        "arm_right_baseline_wrong": c,
        "p_value": mcnemar_exact(b, c),
    }


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole else None
