"""The Python API (issue 18, item 5): `sweepq.open(path)` does what the commands do, and
hands results and calls over as pandas dataframes; `import sweepq` stays cheap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import cli_env, run_cli

import sweepq


def test_import_sweepq_loads_no_sdk_no_datasets_no_pandas() -> None:
    probe = ("import sys, sweepq; heavy = [m for m in ('anthropic', 'openai', 'google.genai',"
             " 'datasets', 'pandas', 'sweepq.queue', 'click') if m in sys.modules];"
             " print(heavy, sorted(n for n in dir(sweepq) if not n.startswith('__')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=cli_env(), timeout=60, check=True)
    assert done.stdout.strip() == "[] ['open']"


def test_enqueue_work_status_summary_export_and_dataframes(tmp_path: Path, sample_bbh: Path,
                                                          fake_api, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    db = tmp_path / "lab.db"
    with sweepq.open(db) as s:
        added = s.enqueue("pilot", subtasks="web_of_lies,boolean_expressions", n_per_subtask=3,
                          arms=["haiku-only", "echo-judge"], dataset=sample_bbh)
        assert (added.new, added.total, added.tasks, added.grown) == (12, 12, 6, False)
        outcome = s.work("pilot", concurrency=4)
        assert outcome.exit_code == 0 and outcome.tally.done == 12
        status = s.status("pilot")
        assert status["states"]["done"] == 12 and status["phase"] == "complete"
        grown = s.enqueue("pilot", subtasks="web_of_lies,boolean_expressions",
                          n_per_subtask=3, arms="haiku-only,echo-judge,sonnet-only",
                          dataset=sample_bbh)
        assert grown.grown and grown.new == 6
        assert s.work("pilot").exit_code == 0
        summary = s.summary("pilot", baseline="haiku-only")
        assert [a["arm"] for a in summary["arms"]] == ["haiku-only", "echo-judge", "sonnet-only"]
        assert all(a["vs_baseline"]["n"] == 6 for a in summary["arms"][1:])
        assert s.export(tmp_path / "out.jsonl", "pilot", order="canonical") == 18
        assert [r["sweep"] for r in s.sweeps()] == ["pilot"]

        results = s.results_df("pilot")
        assert len(results) == 18 and results["passed"].dtype == bool
        assert set(results["subtask"]) == {"web_of_lies", "boolean_expressions"}
        assert results["index"].tolist()[:3] == [0, 0, 0]
        by_arm = results.groupby("arm").passed.mean()
        assert by_arm["haiku-only"] == pytest.approx(summary["arms"][0]["pass_rate"], abs=1e-6)
        calls = s.calls_df("pilot")
        per_job = calls.groupby(["task_id", "arm"]).size()
        assert per_job.xs("haiku-only", level="arm").eq(1).all()
        assert per_job.xs("echo-judge", level="arm").ge(3).all()
        assert calls["model"].str.startswith("claude-").all()

    # The same file through the commands: the same numbers.
    cli = json.loads(run_cli("status", "--json", db=db, check=True).stdout)
    assert cli["states"] == status["states"] | {"done": 18}
    exported = (tmp_path / "out.jsonl").read_text().splitlines()
    assert exported == run_cli("export", "--order", "canonical", "-", db=db,
                               check=True).stdout.splitlines()


def test_mistakes_are_the_commands_one_line_errors(tmp_path: Path, sample_bbh: Path) -> None:
    from sweepq.errors import SweepqError

    s = sweepq.open(tmp_path / "none.db")
    with pytest.raises(SweepqError, match="unknown arm"):
        s.enqueue("x", subtasks="web_of_lies", n_per_subtask=1, arms="nope",
                  dataset=sample_bbh)
    assert not (tmp_path / "none.db").exists()
    with pytest.raises(SweepqError, match="no database"):
        s.results_df("x")
