"""Vendor models have no price in sweepq yet (the official pricing pages were not at hand
to cite): their cost is unknown, recorded as None, and `summary` says `price unknown`
for the arms that call them instead of a misleading $0, and `status` marks the sweep's
total as a floor."""

from __future__ import annotations

import json

import pytest
from conftest import cli_env, run_cli

from sweepq import fmt
from sweepq.fake import FakeAPI, FakeConfig
from sweepq.fake.openai import FakeOpenAI
from sweepq.models import price
from sweepq.usage import Usage


@pytest.mark.parametrize("model", ["openai:gpt-5.4-mini", "openai-responses:gpt-5.4",
                                   "gemini:gemini-2.5-flash", "local:qwen3:4b"])
def test_a_vendor_models_cost_is_unknown_not_zero(model):
    assert price(model, Usage(input_tokens=1000, output_tokens=1000)) is None


def test_the_cost_cell_says_unknown_or_a_floor():
    assert fmt.cost(None, unpriced=True) == "price unknown"
    assert fmt.cost(0.0123, unpriced=True) == "≥$0.0123"
    assert fmt.cost(0.0123, unpriced=False) == "$0.0123"
    assert fmt.cost(None, unpriced=False) == "-"        # imported rows: no calls, no cost


def test_summary_says_price_unknown_for_the_vendor_judged_arm(db_path, sample_bbh):
    with FakeAPI(FakeConfig()) as claude, FakeOpenAI() as openai:
        url = f"{openai.url}/v1"
        run_cli("enqueue", "--sweep", "p", "--subtasks", "boolean_expressions",
                "--n-per-subtask", "3", "--arms", "echo-judge,echo-judge-openai",
                "--dataset", str(sample_bbh),
                "--model", f"openai=openai:gpt-5.4-mini@{url}",
                db=db_path, check=True)
        done = run_cli("work", "-c", "2", db=db_path, env=cli_env(claude, OPENAI_API_KEY="x"))
        assert done.returncode == 0, done.stderr
    text = run_cli("summary", "--sweep", "p", db=db_path, check=True).stdout
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith("  echo")}
    assert "price unknown" in rows["echo-judge-openai"] and "$" not in rows["echo-judge-openai"]
    assert "$" in rows["echo-judge"] and "price unknown" not in rows["echo-judge"]
    assert "no price for openai:gpt-5.4-mini (models.PRICES)" in text   # shown without @URL
    data = json.loads(run_cli("summary", "--sweep", "p", "--json", db=db_path,
                              check=True).stdout)
    by_arm = {a["arm"]: a for a in data["arms"]}
    assert by_arm["echo-judge-openai"]["cost_usd"] is None
    assert by_arm["echo-judge-openai"]["unpriced_models"] == [f"openai:gpt-5.4-mini@{url}"]
    assert by_arm["echo-judge"]["unpriced_models"] == []
    status = run_cli("status", db=db_path, check=True).stdout
    rows = {line.split()[0]: line for line in status.splitlines() if line.startswith("  echo")}
    assert "price unknown" in rows["echo-judge-openai"] and "$" in rows["echo-judge"]
    assert "units, ≥$" in status        # the sweep's total is a floor
