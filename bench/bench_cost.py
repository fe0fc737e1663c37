"""11. Few-shot cost: a BBH 3-shot CoT sweep live and by batch, with and without caching.

One sweep (the five built-in arms, six BBH subtasks x 20 tasks, `--prompts bbh-cot`: the
published 3-shot CoT exemplars after the persona in the system text) run three times,
each against its own `sweepq fake-api` process with the same seed and accuracy, so the
answers are the same: live with `--cache off` (the list price), live with caching, by
Message Batches with caching. The fake bills caching as documented (writes 1.25x, reads
0.1x, the model's minimum prefix, expiry; a write readable once its response begins, each
call taking 100 ms). Reported per model map: each run's cost
against the uncached live one, the share of input tokens read from the cache, whether
the verdicts are the same, and `sweepq estimate` (counted by the fake's `count_tokens`)
against what the fake then billed.

Two model maps, because the minimum cacheable prefix decides everything: BBH's longest
3-shot prefixes are ~1,600 tokens, under the 4,096 of Claude Haiku 4.5 and Opus 4.6, so
the default map (haiku 4.5, sonnet 4.6) caches only the sonnet calls; the second map
(haiku=claude-sonnet-4-5, sonnet=claude-opus-4-1: both 1,024-token floors) caches every
persona call whose prefix passes 1,024 tokens.

    python bench/bench_cost.py [--n 20] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from common import ROOT, FakeServer, emit, note, query, rnd, run_child, sweepq_cmd, workdir

SECTION = "11. Few-shot cost: caching and batches"
ARMS = "haiku-only,sonnet-only,echo-lexical,echo-judge,echo-oracle"
# The six subtasks with the longest 3-shot prefixes (the ones caching can serve).
SUBTASKS = ("salient_translation_error_detection", "geometric_shapes", "formal_fallacies",
            "causal_judgement", "disambiguation_qa", "ruin_names")
DATA = ROOT.parent / "shared" / "bbh"
MAPS = {
    "default map (haiku 4.5, sonnet 4.6)": ([], "haiku=0.7,sonnet=0.85"),
    "1,024-token floors (sonnet 4.5, opus 4.1)": (
        ["--model", "haiku=claude-sonnet-4-5", "--model", "sonnet=claude-opus-4-1"],
        "sonnet=0.7,opus=0.85"),
}
RUNS = (("live, no cache", ["--cache", "off", "--concurrency", "8"]),
        ("live, cached", ["--concurrency", "8"]),
        ("batch, cached", ["--backend", "batch"]))
# What the estimate assumes a call writes: the fake's multiple-choice replies run 26-28
# tokens (the user's figure would come from a pilot run).
OUTPUT_TOKENS = 27
SINGLE_PATH = ("haiku-only", "sonnet-only")   # one call a job: nothing to assume
# Each fake call takes this long, so live calls overlap as real ones do: a prefix's
# concurrent first calls would each write it (caching.Warmup holds them back).
LATENCY_MS = 100


def _answer_key(path: Path, n: int) -> None:
    from sweepq import prompts
    from sweepq.bbh import load_tasks

    ps = prompts.builtin("bbh-cot")
    tasks = load_tasks(list(SUBTASKS), n, 0, str(DATA))
    path.write_text(json.dumps({ps.task_prompt(t.subtask, t.question, t.choices,
                                               t.raw_question): t.answer for t in tasks}))


def _sq(db: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    done = run_child([*sweepq_cmd(), "--db", str(db), *args], env=env, timeout=1800)
    if done.returncode:
        raise RuntimeError(f"sweepq {args[0]} failed: {done.stderr[-1500:]}")
    return done


def _billed(db: Path) -> dict[str, Any]:
    [(cost, plain, read, write)] = query(
        db, "SELECT sum(cost_usd), sum(input_tokens), sum(cache_read_tokens),"
        " sum(cache_write_tokens) FROM results")
    by_arm = dict(query(db, "SELECT j.arm, sum(r.cost_usd) FROM results r JOIN jobs j"
                           " USING (job_id) GROUP BY j.arm"))
    verdicts = query(db, "SELECT j.task_id, j.arm, r.passed, r.detail FROM results r"
                     " JOIN jobs j USING (job_id) ORDER BY j.position")
    return {"cost": cost, "hit_rate": read / (plain + read + write), "verdicts": verdicts,
            "by_arm": by_arm}


def one_map(tmp: Path, label: str, models: list[str], accuracy: str, n: int) -> None:
    key = tmp / "key.json"
    _answer_key(key, n)
    runs: dict[str, dict[str, Any]] = {}
    estimates: dict[str, dict[str, Any]] = {}
    for how, extra in RUNS:
        db = tmp / f"{how.replace(', ', '-').replace(' ', '')}.db"
        _sq(db, "enqueue", "--sweep", "s", "--subtasks", ",".join(SUBTASKS),
            "--n-per-subtask", str(n), "--arms", ARMS, "--dataset", str(DATA),
            "--prompts", "bbh-cot", *models)
        with FakeServer("--seed", "7", "--answer-key", str(key), "--accuracy", accuracy,
                        latency_ms=LATENCY_MS) as fake:
            estimates[how] = json.loads(_sq(db, "estimate", "--count", "api", "--json",
                                            "--output-tokens", str(OUTPUT_TOKENS),
                                            env=fake.env()).stdout)
            child = _sq(db, "work", "--quiet", *extra, env=fake.env())
        runs[how] = {**_billed(db), "wall": child.wall}
        note(f"{label} / {how}: ${runs[how]['cost']:.4f}, cache hit rate "
             f"{runs[how]['hit_rate']:.1%}, {child.wall:.1f}s")
    base = runs["live, no cache"]
    for how, goal in (("live, cached", 0.6), ("batch, cached", 0.35)):
        run = runs[how]
        ratio = run["cost"] / base["cost"]
        same = run["verdicts"] == base["verdicts"]
        emit(SECTION, f"{label}: {how} / live uncached", sweepq=rnd(ratio, 3), unit="x",
             compare=rnd(base["cost"], 4),
             compare_label=f"${run['cost']:.4f} vs ${base['cost']:.4f} uncached live",
             ratio=rnd(run["hit_rate"], 3), ratio_label="cache hit rate (input read)",
             goal=f"<= {goal}x, same verdicts", met=ratio <= goal and same,
             same_verdicts=same, jobs=len(run["verdicts"]))
    for plan, how in (("live", "live, no cache"), ("live_cached", "live, cached"),
                      ("batch_cached", "batch, cached")):
        arms = {a["arm"]: a["usd"][plan] for a in estimates[how]["arms"]}
        predicted = sum(arms[a] for a in SINGLE_PATH)
        billed = sum(runs[how]["by_arm"][a] for a in SINGLE_PATH)
        ratio = predicted / billed
        emit(SECTION, f"{label}: estimate / billed, {how} (haiku-only + sonnet-only)",
             sweepq=rnd(ratio, 3), unit="x",
             compare_label=f"${predicted:.4f} estimated, ${billed:.4f} billed",
             goal="within 5%", met=abs(ratio - 1) <= 0.05,
             whole_sweep={"estimated": rnd(estimates[how]["total_usd"][plan], 4),
                          "billed": rnd(runs[how]["cost"], 4),
                          "note": "echo arms estimated on their longest path"})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if not (DATA / "causal_judgement.json").exists():
        note(f"{DATA} is missing: this benchmark needs the BBH data there")
        sys.exit(1)
    n = 4 if args.quick else args.n
    for label, (models, accuracy) in MAPS.items():
        with workdir("cost") as tmp:
            one_map(tmp, label, models, accuracy, n)


if __name__ == "__main__":
    main()
