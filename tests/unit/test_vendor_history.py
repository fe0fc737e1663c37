"""The historical files' vendor-judge arms, run by sweepq: the export must read like the old
runner's rows for those arms (same keys, in the same order, with the same JSON types; the
values are the fakes', so only the shape is compared), and the files themselves, those
arms included, must import and export byte for byte (tests/unit/test_jsonl.py round-trips
every file; here, that those arms are among what it covers).

The files are copies in tests/data/echo-results."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import ECHO_RESULTS, cli_env, run_cli

from sweepq import arms
from sweepq.fake import FakeAPI, FakeConfig
from sweepq.fake.gemini import FakeGemini
from sweepq.fake.openai import FakeOpenAI

# The alias each built-in judge variant uses, mapped to a model on the loopback fakes.
TARGETS = {"openai": "openai:gpt-5.4", "gpt-5.4": "openai:gpt-5.4",
           "gpt-5.4-mini": "openai:gpt-5.4-mini", "gpt-5.4-nano": "openai:gpt-5.4-nano",
           "gemini-pro": "gemini:gemini-2.5-pro", "gemini-flash": "gemini:gemini-2.5-flash",
           "gemini-flash-lite": "gemini:gemini-2.5-flash-lite", "small": "local:qwen3:4b"}


def history() -> list[tuple[Path, list[dict]]]:
    files = sorted(ECHO_RESULTS.glob("*.jsonl"))
    return [(f, [json.loads(line) for line in f.read_text().splitlines()]) for f in files]


def vendor_rows() -> dict[str, list[dict]]:
    """Every historical row of an arm sweepq builds in as a judge variant, by arm."""
    rows: dict[str, list[dict]] = {}
    for _, lines in history():
        for row in lines:
            if row.get("arm") in arms.JUDGE_VARIANTS:
                rows.setdefault(row["arm"], []).append(row)
    return rows


def shape(obj: dict) -> list[tuple[str, str]]:
    return [(key, type(value).__name__) for key, value in obj.items()]


def model_flags(variant_arms: list[str], openai_url: str, gemini_url: str) -> list[str]:
    flags = []
    for alias in sorted({arms.JUDGE_VARIANTS[a] for a in variant_arms}):
        model = TARGETS[alias]
        url = gemini_url if model.startswith("gemini:") else f"{openai_url}/v1"
        flags += ["--model", f"{alias}={model}@{url}"]
    return flags


def test_the_history_has_vendor_judge_arms_sweepq_knows():
    found = vendor_rows()
    assert {"echo-judge-openai", "echo-judge-openai-gpt-5.4-mini",
            "echo-judge-gemini-flash", "echo-small-judge"} <= set(found)


def test_a_sweep_of_those_arms_exports_rows_shaped_like_the_historical_ones(db_path,
                                                                          sample_bbh):
    found = vendor_rows()
    names = sorted(found)
    with FakeAPI(FakeConfig()) as claude, FakeOpenAI() as openai, FakeGemini() as gemini:
        run_cli("enqueue", "--sweep", "history", "--subtasks",
                "boolean_expressions,web_of_lies", "--n-per-subtask", "2",
                "--arms", ",".join(names), "--dataset", str(sample_bbh),
                *model_flags(names, openai.url, gemini.url), db=db_path, check=True)
        env = cli_env(claude, OPENAI_API_KEY="sk-openai-test", GEMINI_API_KEY="gemini-test")
        done = run_cli("work", "-c", "4", db=db_path, env=env)
        assert done.returncode == 0, done.stderr
    lines = run_cli("export", "--sweep", "history", "-", db=db_path,
                    check=True).stdout.splitlines()
    exported = [json.loads(line) for line in lines]
    meta, rows = exported[0], exported[1:]
    historical_meta = next(lines[0] for _, lines in history() if "_meta" in lines[0])
    assert shape(meta) == shape(historical_meta)
    assert {r["arm"] for r in rows} == set(names) and len(rows) == 4 * len(names)
    for row in rows:
        assert shape(row) == shape(found[row["arm"]][0]), row["arm"]
    assert all(line == json.dumps(json.loads(line)) for line in lines)   # default separators
    # sub_calls counts as the old runner did: the pair and a metered judge (a local one is
    # free and not counted), plus one when sonnet was called.
    fewest = {arm: min(r["sub_calls"] for r in found[arm] if r["sub_calls"]) for arm in names}
    with sqlite3.connect(db_path) as conn:
        for arm, sub_calls, models in conn.execute(
                "SELECT arm, sub_calls, models FROM results JOIN jobs USING (job_id)"):
            escalated = any(m.startswith("claude-sonnet") for m in json.loads(models))
            assert sub_calls == fewest[arm] + escalated, (arm, sub_calls, models)


@pytest.mark.parametrize("arm", ["echo-judge-openai", "echo-judge-openai-gpt-5.4-mini",
                                 "echo-judge-gemini-flash", "echo-small-judge"])
def test_the_files_with_vendor_arms_round_trip_byte_for_byte(tmp_path, arm):
    source = next(f for f, lines in history() if any(r.get("arm") == arm for r in lines))
    database = tmp_path / "history.db"
    run_cli("import", str(source), db=database, check=True)
    out = tmp_path / source.name
    run_cli("export", "--sweep", source.stem, str(out), db=database, check=True)
    assert out.read_bytes() == source.read_bytes()
