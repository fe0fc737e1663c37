"""`sweepq estimate` (issue 22 item 4) against what the fake then bills: real processes,
the real SDK over HTTP to the fake on 127.0.0.1, whose `count_tokens` counts the input.
A few-shot set whose exemplars pass the 1,024-token floor of the models mapped, so the
cached plans differ from the uncached ones; the estimate must be within 5% of the bill,
live and by batch."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import run_cli

from sweepq import prompts
from sweepq.bbh import load_tasks
from sweepq.fake import FakeAPI, FakeConfig

SUBTASKS = "boolean_expressions,web_of_lies"
MODELS = ("--model", "haiku=claude-sonnet-4-5", "--model", "sonnet=claude-opus-4-1")
# The fake's free-form replies ("Let me think about this step by step. … Answer: X") run
# 19-20 tokens: the output the estimate is told to assume, as a pilot run would tell it.
OUTPUT_TOKENS = "20"


def _few_shot_set(tmp_path: Path) -> Path:
    """The zero-shot set with a long exemplar file per subtask (each ~1,300 tokens)."""
    folder = tmp_path / "set" / "ex"
    folder.mkdir(parents=True)
    for sub in SUBTASKS.split(","):
        block = f"Q: a {sub} question\nA: Let's think step by step.\nSo the answer is x.\n\n"
        (folder / f"{sub}.txt").write_text(block * 80)
    path = tmp_path / "set" / "few.toml"
    path.write_text(prompts.builtin("bbh-zeroshot").text + '\n[fewshot]\nfrom = "ex"\n')
    return path


def _run(tmp_path: Path, sample_bbh: Path, name: str, *work: str) -> tuple[dict, float]:
    db = tmp_path / f"{name}.db"
    set_file = _few_shot_set(tmp_path)
    run_cli("enqueue", "--sweep", "s", "--subtasks", SUBTASKS, "--n-per-subtask", "4",
            "--arms", "haiku-only,sonnet-only", "--dataset", str(sample_bbh),
            "--prompts", str(set_file), *MODELS, db=db, check=True)
    ps = prompts.read_file(str(set_file))
    tasks = load_tasks(SUBTASKS.split(","), 4, 0, str(sample_bbh))
    key = {ps.task_prompt(t.subtask, t.question, t.choices, t.raw_question): t.answer
           for t in tasks}
    with FakeAPI(FakeConfig(answer_key=key, accuracy={"*": 0.7})) as fake:
        estimate = json.loads(run_cli("estimate", "--count", "api", "--json",
                                      "--output-tokens", OUTPUT_TOKENS, db=db, fake=fake,
                                      check=True).stdout)
        assert fake.stats()["requests"] == 0            # counting sends no message
        run_cli("work", "--quiet", "--concurrency", "1", *work, db=db, fake=fake, check=True)
    with sqlite3.connect(db) as conn:
        billed, reads = conn.execute("SELECT sum(cost_usd), sum(cache_read_tokens)"
                                     " FROM results").fetchone()
    assert (reads > 0) == ("off" not in work)           # the cache used unless turned off
    summary = json.loads(run_cli("summary", "--json", db=db, check=True).stdout)
    rates = [a["cache"]["hit_rate"] for a in summary["arms"]]
    assert all(r > 0.5 for r in rates) if reads else rates == [0.0, 0.0]
    assert ("prompt cache:" in run_cli("summary", db=db, check=True).stdout) == (reads > 0)
    return estimate, billed


@pytest.mark.parametrize(("plan", "work"), [("live_cached", ()),
                                            ("batch_cached", ("--backend", "batch")),
                                            ("live", ("--cache", "off"))])
def test_estimate_is_within_5_percent_of_what_the_fake_bills(tmp_path, sample_bbh, plan,
                                                             work):
    estimate, billed = _run(tmp_path, sample_bbh, plan, *work)
    assert estimate["counted_by"] == "count_tokens"
    predicted = estimate["total_usd"][plan]
    assert abs(predicted / billed - 1) <= 0.05, (predicted, billed)
    usd = estimate["total_usd"]       # caching pays here, and the estimate says so
    assert usd["live_cached"] < 0.7 * usd["live"] and usd["batch"] == pytest.approx(
        usd["live"] / 2)


def test_counting_by_the_api_without_a_key_is_one_line_naming_the_fix(tmp_path, sample_bbh):
    db = tmp_path / "k.db"
    run_cli("enqueue", "--sweep", "s", "--subtasks", "boolean_expressions", "--n-per-subtask",
            "1", "--arms", "haiku-only", "--dataset", str(sample_bbh), db=db, check=True)
    done = run_cli("estimate", "--count", "api", db=db)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "ANTHROPIC_API_KEY" in done.stderr and "--count chars" in done.stderr
    by_chars = run_cli("estimate", "--count", "chars", db=db, check=True).stdout
    assert "haiku-only" in by_chars and "characters" in by_chars
