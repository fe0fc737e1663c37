"""The statistics: Wilson intervals and exact McNemar tests against published values,
and the team's escalation and cost-unit definitions."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import pytest

from sweepq import stats
from sweepq.stats import Row, cost_units, escalated, mcnemar_exact, summarize, wilson_interval

# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table II,
# method 3 (Wilson score, no continuity correction); 8/10 from R's binom.confint.
NEWCOMBE = [((81, 263), (0.2553, 0.3662)), ((15, 148), (0.0624, 0.1605)),
            ((0, 20), (0.0, 0.1611)), ((1, 29), (0.0061, 0.1718)),
            ((29, 29), (0.8830, 1.0)), ((8, 10), (0.4902, 0.9433))]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE)
def test_wilson_matches_published_intervals(counts: tuple[int, int],
                                            expected: tuple[float, float]) -> None:
    low, high = wilson_interval(*counts)
    assert low == pytest.approx(expected[0], abs=5e-5)
    assert high == pytest.approx(expected[1], abs=5e-5)


def test_wilson_edges() -> None:
    assert wilson_interval(0, 0) is None
    low, high = wilson_interval(5, 10)
    assert low + high == pytest.approx(1.0)            # symmetric around 1/2
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


@pytest.mark.parametrize(("b", "c", "p"), [
    (0, 0, 1.0),                    # no discordant pairs
    (0, 5, 2 / 32),                 # 2 * P(X <= 0), X ~ Bin(5, 1/2)
    (1, 9, 22 / 1024),              # 2 * (1 + 10) / 2^10
    (2, 8, 112 / 1024),             # 2 * (1 + 10 + 45) / 2^10
    (3, 3, 1.0),                    # capped at 1
    (4, 5, 1.0),
    (6, 2, 2 * 37 / 256),           # 2 * (1 + 8 + 28) / 2^8
])
def test_mcnemar_exact_known_values(b: int, c: int, p: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-12)
    assert mcnemar_exact(c, b) == pytest.approx(p, rel=1e-12)


@pytest.mark.parametrize(("b", "c"), [(1100, 1200), (2400, 2601), (10, 4000)])
def test_mcnemar_large_counts_agree_with_exact_arithmetic(b: int, c: int) -> None:
    n, k = b + c, min(b, c)
    exact = min(Fraction(1), 2 * Fraction(sum(comb(n, i) for i in range(k + 1)), 2 ** n))
    assert mcnemar_exact(b, c) == pytest.approx(float(exact), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(("arm", "calls", "esc", "units"), [
    ("haiku-only", 1, False, 1),
    ("haiku-only", 2, False, 2),
    ("sonnet-only", 1, False, 3),
    ("sonnet-only", 2, False, 6),
    ("echo-judge", 3, False, 3),
    ("echo-judge", 4, True, 6),
    ("echo-judge", 0, False, 3),            # a failed historical row still costs a judge run
    ("echo-judge-openai", 3, False, 3),
    ("echo-judge-openai", 4, True, 6),
    ("echo-judge[judge=openai:gpt-5.4-mini]", 3, False, 3),   # a judge given as an option
    ("echo-judge[judge=j]@terse", 4, True, 6),
    ("echo-judge[judge=local:qwen3:4b@http://h:1/v1]", 3, False, 3),
    ("echo-judgement", 3, True, 5),         # not `echo-judge-*`: an ordinary echo arm
    ("echo-lexical", 2, False, 2),
    ("echo-lexical", 3, True, 5),
    ("echo-oracle", 2, False, 2),
    ("echo-oracle", 3, True, 5),
    ("echo-small-judge", 2, False, 2),      # an echo arm, not a judge arm, by its name
    ("my-arm", 5, False, 5),
    ("judge-echo", 9, False, 9),
])
def test_escalation_and_cost_unit_definitions(arm: str, calls: int, esc: bool,
                                              units: int) -> None:
    assert escalated(arm, calls) is esc
    assert cost_units(arm, calls) == units


def test_summarize_small_paired_case() -> None:
    """Six tasks by hand: baseline right on 1-4, arm right on 3-6."""
    rows = []
    for i in range(1, 7):
        rows.append(Row(f"t{i}", "sonnet-only", i <= 4, "passed" if i <= 4 else "wrong", 1))
        rows.append(Row(f"t{i}", "echo-judge", i >= 3, "passed" if i >= 3 else "unparseable",
                        4 if i % 2 else 3, 0.01))
    rows.append(Row("t7", "echo-judge", True, "passed", 3, None))     # no baseline row
    out = summarize(rows, ["sonnet-only", "echo-judge"])
    assert out["baseline"] == "sonnet-only" and out["oracle"] is False
    base, judge = out["arms"]
    assert base["vs_baseline"] is None and base["escalated"] is None
    assert (judge["n"], judge["passed"], judge["unparseable"]) == (7, 5, 2)
    assert judge["escalated"] == 3 and judge["cost_units"] == 3 * 7 + 3 * 3
    assert judge["cost_usd"] == pytest.approx(0.06) and judge["cost_usd_rows"] == 6
    vs = judge["vs_baseline"]
    assert vs["n"] == 6
    assert (vs["baseline_right_arm_wrong"], vs["arm_right_baseline_wrong"]) == (2, 2)
    assert vs["p_value"] == 1.0
    assert vs["arm_pass_rate"] == pytest.approx(4 / 6, abs=1e-6)


def test_summarize_oracle_alignment_and_baseline_choice() -> None:
    rows = [Row("a", "echo-oracle", True, "passed", 2),
            Row("b", "echo-oracle", True, "passed", 3),
            Row("a", "echo-lexical", True, "passed", 3),
            Row("b", "echo-lexical", True, "passed", 3),
            Row("a", "haiku-only", True, "passed", 1),
            Row("b", "haiku-only", False, "x", 1)]
    out = summarize(rows, baseline="haiku-only")
    by = {a["arm"]: a for a in out["arms"]}
    assert out["oracle"] is True
    assert by["echo-lexical"]["oracle_alignment"] == {"agree": 1, "n": 2, "rate": 0.5}
    assert by["echo-oracle"]["oracle_alignment"] is None
    assert by["haiku-only"]["oracle_alignment"] is None          # not an echo arm
    assert by["echo-oracle"]["vs_baseline"]["arm_right_baseline_wrong"] == 1
    assert summarize(rows)["baseline"] is None                   # no sonnet-only: none
    with pytest.raises(ValueError, match="not in this sweep"):
        summarize(rows, baseline="sonnet-only")


def test_arm_totals_from_buckets_equal_totals_from_rows() -> None:
    one_by_one, bucketed = stats.ArmTotals("echo-judge"), stats.ArmTotals("echo-judge")
    for _ in range(3):
        one_by_one.add(True, 4, False)
    bucketed.add(True, 4, False, count=3)
    assert one_by_one == bucketed
