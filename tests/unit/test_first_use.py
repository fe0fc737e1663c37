"""A researcher's first ten minutes (issue 18, item 4): data access in one fast line, names a
person can type, a list of sweeps, JSON from every command that prints data, a quiet pipe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BBH_DIR, ROOT, assert_refused, cli_env, run_cli, try_enqueue

from sweepq import bbh
from sweepq.fmt import pct

# -- data access ---------------------------------------------------------------------------

def test_enqueue_offline_without_dataset_is_one_line_saying_not_cached(tmp_path: Path) -> None:
    env = cli_env(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    done = run_cli("enqueue", "--sweep", "s", "--subtasks", "navigate", "--n-per-subtask", "2",
                   "--arms", "haiku-only", db=tmp_path / "new.db", env=env)
    line = assert_refused(done, "not in the local Hugging Face cache", "HF_HUB_OFFLINE",
                          "--dataset PATH")
    assert "ConnectionError" not in line
    assert not (tmp_path / "new.db").exists()


def test_enqueue_with_the_hub_unreachable_says_so_in_one_line(tmp_path: Path) -> None:
    """No offline flag, the hub's address refusing connections (a closed loopback port):
    one line at once, no retries of `datasets`."""
    env = cli_env(HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT="http://127.0.0.1:9")
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("HF_DATASETS_OFFLINE", None)
    done = run_cli("enqueue", "--sweep", "s", "--subtasks", "navigate", "--n-per-subtask", "2",
                   "--arms", "haiku-only", db=tmp_path / "new.db", env=env)
    assert_refused(done, "not in the local Hugging Face cache", "cannot be reached",
                   "http://127.0.0.1:9", "--dataset PATH")


def test_subtasks_all_enqueues_every_subtask_in_canonical_order(tmp_path: Path) -> None:
    done = try_enqueue(tmp_path / "a.db", BBH_DIR, subtasks="all", n="1")
    assert done.returncode == 0, done.stderr
    listed = json.loads(run_cli("sweeps", "--json", db=tmp_path / "a.db", check=True).stdout)
    assert listed[0]["subtasks"] == list(bbh.SUBTASKS)
    assert f"{len(bbh.SUBTASKS)} tasks x 1 arm)" in done.stdout


def test_an_unknown_subtask_lists_the_known_names(tmp_path: Path, sample_bbh: Path) -> None:
    line = assert_refused(try_enqueue(tmp_path / "a.db", sample_bbh, subtasks="navigat"),
                          "navigat", "navigate", "web_of_lies", "boolean_expressions", "`all`")
    assert "sweepq.bbh" not in line and "SUBTASKS" not in line


def test_n_beyond_the_data_says_which_subtasks_ran_short(tmp_path: Path,
                                                        sample_bbh: Path) -> None:
    done = try_enqueue(tmp_path / "a.db", sample_bbh, n="100000")
    assert done.returncode == 0, done.stderr
    assert "50 new jobs" in done.stdout
    assert "fewer tasks than --n-per-subtask 100000" in done.stderr
    assert "web_of_lies has 50" in done.stderr


# -- models --------------------------------------------------------------------------------

def test_models_refuses_an_alias_no_arm_calls_unless_forced(tmp_path: Path,
                                                           sample_bbh: Path) -> None:
    db = tmp_path / "a.db"
    try_enqueue(db, sample_bbh)
    before = run_cli("models", "--json", db=db, check=True).stdout
    assert_refused(run_cli("models", "sonet=claude-sonnet-4-6", db=db), "sonet", "haiku",
                   "--force")
    assert run_cli("models", "--json", db=db, check=True).stdout == before
    forced = run_cli("models", "--force", "--json", "sonet=claude-sonnet-4-6", db=db, check=True)
    assert json.loads(forced.stdout)["sonet"] == "claude-sonnet-4-6"
    fixed = run_cli("models", "haiku=claude-haiku-4-5-20251001", db=db, check=True)
    assert "haiku=claude-haiku-4-5-20251001" in fixed.stdout


# -- sweeps, --json ------------------------------------------------------------------------

def test_sweeps_lists_every_sweep_as_text_and_json(tmp_path: Path, sample_bbh: Path) -> None:
    db = tmp_path / "a.db"
    try_enqueue(db, sample_bbh, sweep="pilot")
    try_enqueue(db, sample_bbh, sweep="main", arms="haiku-only,sonnet-only", n="2")
    text = run_cli("sweeps", db=db, check=True).stdout.splitlines()
    assert [line.split()[0] for line in text] == ["pilot", "main"]
    assert "0/3 done" in text[0] and "1 arm x 1 subtask (n 3)" in text[0]
    listed = json.loads(run_cli("sweeps", "--json", db=db, check=True).stdout)
    assert [(s["sweep"], s["total"], s["pending"]) for s in listed] == [("pilot", 3, 3),
                                                                       ("main", 4, 4)]


def test_json_from_batches_check_and_requests(tmp_path: Path, sample_bbh: Path) -> None:
    db = tmp_path / "a.db"
    try_enqueue(db, sample_bbh, arms="echo-judge")
    assert "no message batches" in run_cli("batches", db=db, check=True).stdout
    assert json.loads(run_cli("batches", "--json", db=db, check=True).stdout) == []
    checked = json.loads(run_cli("check", "--json", db=db, check=True).stdout)
    assert checked == {"ok": True, "repaired": [], "problems": []}
    [pair] = json.loads(run_cli("requests", "--task", "bbh/web_of_lies/0", "--arm",
                                "echo-judge", "--json", db=db, check=True).stdout)
    assert (pair["task_id"], pair["arm"]) == ("bbh/web_of_lies/0", "echo-judge")
    calls = pair["calls"]
    assert [c["alias"] for c in calls[:2]] == ["haiku", "haiku"]
    assert calls[0]["model"].startswith("claude-haiku")
    assert calls[0]["messages"][0]["content"] and calls[0]["max_tokens"] > 0


# -- query ---------------------------------------------------------------------------------

def test_query_csv_of_no_rows_prints_its_header(tmp_path: Path, sample_bbh: Path) -> None:
    db = tmp_path / "a.db"
    try_enqueue(db, sample_bbh)
    done = run_cli("query", "SELECT task_id, arm FROM jobs WHERE 0", "--csv", db=db,
                   check=True)
    assert done.stdout == "task_id,arm\n"


@pytest.mark.slow   # over 4 s on an idle machine: the fast suite stays under a minute
def test_query_into_a_closed_pipe_is_quiet(tmp_path: Path, sample_bbh: Path) -> None:
    db = tmp_path / "a.db"
    try_enqueue(db, sample_bbh)
    many = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)"
            " SELECT i FROM n")
    done = subprocess.run(
        f"set -o pipefail; {sys.executable} -m sweepq --db {db} query '{many}' | head -1",
        shell=True, executable="/bin/bash", capture_output=True, text=True, env=cli_env(),
        timeout=60)
    assert done.stdout == "i\n"
    assert done.stderr == ""
    assert done.returncode == 141   # SIGPIPE's code, as `yes | head` under pipefail


# -- custom arms ---------------------------------------------------------------------------

ARMS_PY = '''
from sweepq.arms import PERSONA_A

def opus_only(task, client):
    return client.call("haiku", task.prompt, system=PERSONA_A)

opus_only.models = ("haiku",)
ARMS = {"opus-only": opus_only}
'''


@pytest.mark.slow   # over 4 s on an idle machine: the fast suite stays under a minute
def test_arms_module_imports_from_the_working_directory(tmp_path: Path,
                                                       sample_bbh: Path) -> None:
    """The `sweepq` script (not `python -m`, which puts the working directory on the path
    by itself) run from the folder that holds mylab/."""
    (tmp_path / "mylab").mkdir()
    (tmp_path / "mylab" / "__init__.py").write_text("")
    (tmp_path / "mylab" / "arms.py").write_text(ARMS_PY)
    script = Path(sys.executable).parent / "sweepq"
    env = {k: v for k, v in cli_env().items() if k != "PYTHONPATH"}
    argv = [str(script), "--db", "a.db", "enqueue", "--sweep", "s", "--subtasks", "web_of_lies",
            "--n-per-subtask", "2", "--arms", "opus-only", "--dataset", str(sample_bbh)]
    done = subprocess.run([*argv, "--arms-module", "mylab.arms"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "2 new jobs" in done.stdout
    worked = subprocess.run([str(script), "--db", "a.db", "work", "-q"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60)
    assert_refused(worked, "unknown arm opus-only", "--arms-module MODULE")


def test_percentages_round_the_same_in_status_and_summary() -> None:
    """25/99 is 25.2525…%: status keeps 0.2525, summary the whole fraction."""
    assert pct(round(25 / 99, 4)) == pct(25 / 99) == "25.3%"
    assert pct(0.724) == "72.4%" and pct(2 / 3, 0) == "67%" and pct(None) == "-"


def test_status_and_summary_explain_units(tmp_path: Path, sample_bbh: Path) -> None:
    db = tmp_path / "a.db"
    try_enqueue(db, sample_bbh)
    for command in ("status", "summary"):
        out = run_cli(command, db=db, check=True).stdout
        assert "units: the old runner's cost proxy" in out
        assert "other vendors' calls count as cheap calls" in out


@pytest.mark.parametrize("n, text", [(1, "1 arm"), (2, "2 arms"), (1200, "1,200 arms")])
def test_counts_agree_with_their_noun(n: int, text: str) -> None:
    from sweepq.fmt import count

    assert count(n, "arm") == text


def test_source_root_is_not_on_the_path_for_the_arms_test() -> None:
    """The custom-arms test means something only if `mylab` is not importable from here."""
    assert not (ROOT / "mylab").exists()


def test_a_refused_max_attempts_creates_no_database(tmp_path: Path, sample_bbh: Path) -> None:
    assert_refused(try_enqueue(tmp_path / "a.db", sample_bbh, "--max-attempts", "0"),
                   "--max-attempts must be between 1 and 1000")
    assert not (tmp_path / "a.db").exists()
