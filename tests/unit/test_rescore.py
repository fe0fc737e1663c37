"""Scorers as data through a whole sweep: `--scorer` stored and used, `rescore` with no
model call (the fake's request count unchanged), changes counted per arm, and `summary` /
`export` of either scoring."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import run_cli

from sweepq.bbh import load_tasks
from sweepq.fake import FakeAPI, FakeConfig
from sweepq.stats import wilson_interval

SUBTASKS = "web_of_lies"


def reply(text: str) -> dict:
    return {"status": 200, "body": {
        "id": "msg_scripted", "type": "message", "role": "assistant",
        "model": "claude-haiku-4-5", "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 50, "output_tokens": 10}}}


def finished_sweep(db: Path, dataset: Path, fake: FakeAPI, scorer: str = "sweepq") -> None:
    """web_of_lies x 3, haiku-only replying `**A**` (sweepq reads A, echo nothing) and
    sonnet-only `Answer: A` (both read A)."""
    run_cli("enqueue", "--sweep", "p", "--subtasks", SUBTASKS, "--n-per-subtask", "3",
            "--arms", "haiku-only,sonnet-only", "--dataset", str(dataset), "--scorer", scorer,
            db=db, check=True)
    fake.script([reply("Reasoning.\n**A**"), reply("Reasoning.\nAnswer: A")] * 3)
    run_cli("work", "--sweep", "p", "-c", "1", "--quiet", db=db, fake=fake, check=True)


def test_rescore_makes_no_call_counts_changes_per_arm_and_keeps_both(
        db_path: Path, sample_bbh: Path) -> None:
    golds = [t.answer for t in load_tasks([SUBTASKS], 3, 0, str(sample_bbh))]
    with FakeAPI(FakeConfig()) as fake:
        finished_sweep(db_path, sample_bbh, fake)
        before = fake.stats()["requests"]
        assert before == 6
        done = run_cli("rescore", "--sweep", "p", "--scorer", "echo", db=db_path, check=True)
        assert fake.stats()["requests"] == before        # no model call
    a_gold = golds.count("A")
    assert f"haiku-only: 3 of 3 verdicts changed (0 now passed, {a_gold} now failed)" \
        in done.stdout
    assert "sonnet-only: 0 of 3 verdicts changed" in done.stdout

    own = json.loads(run_cli("summary", "--sweep", "p", "--json", db=db_path,
                             check=True).stdout)
    echo = json.loads(run_cli("summary", "--sweep", "p", "--json", "--scorer", "echo",
                              db=db_path, check=True).stdout)
    by_arm = {name: {a["arm"]: a for a in data["arms"]} for name, data in
              (("own", own), ("echo", echo))}
    assert own["scorer"] == "sweepq" and echo["scorer"] == "echo"
    assert by_arm["own"]["haiku-only"]["passed"] == a_gold
    assert by_arm["echo"]["haiku-only"]["passed"] == 0
    assert by_arm["echo"]["haiku-only"]["unparseable"] == 3
    assert by_arm["own"]["sonnet-only"]["passed"] == by_arm["echo"]["sonnet-only"]["passed"]

    rows = run_cli("export", "--sweep", "p", "--scorer", "echo", "-", db=db_path,
                   check=True).stdout.splitlines()[1:]
    haiku = [json.loads(r) for r in rows if '"haiku-only"' in r]
    assert [r["detail"] for r in haiku] == ["unparseable"] * 3
    own_rows = run_cli("export", "--sweep", "p", "-", db=db_path, check=True).stdout
    assert '"detail": "unparseable"' not in own_rows   # the sweep's own verdicts are kept


def test_the_stored_scorer_scores_every_job(db_path: Path, sample_bbh: Path) -> None:
    with FakeAPI(FakeConfig()) as fake:
        finished_sweep(db_path, sample_bbh, fake, scorer="echo")
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT scorer FROM sweeps").fetchone() == ("echo",)
        details = conn.execute("SELECT j.arm, r.detail FROM results r JOIN jobs j"
                               " USING (job_id)").fetchall()
    assert {d for arm, d in details if arm == "haiku-only"} == {"unparseable"}


def test_unknown_scorer_and_missing_scoring_are_one_line_and_write_nothing(
        db_path: Path, sample_bbh: Path) -> None:
    bad = run_cli("enqueue", "--sweep", "p", "--subtasks", SUBTASKS, "--n-per-subtask", "2",
                  "--arms", "haiku-only", "--dataset", str(sample_bbh), "--scorer", "nope",
                  db=db_path)
    assert bad.returncode != 0 and not db_path.exists()
    assert "unknown scorer 'nope'" in bad.stderr and "echo, sweepq" in bad.stderr
    assert "Traceback" not in bad.stderr
    run_cli("enqueue", "--sweep", "p", "--subtasks", SUBTASKS, "--n-per-subtask", "2",
            "--arms", "haiku-only", "--dataset", str(sample_bbh), db=db_path, check=True)
    missing = run_cli("summary", "--sweep", "p", "--scorer", "echo", db=db_path)
    assert missing.returncode != 0 and "rescore --sweep p --scorer echo" in missing.stderr
    again = run_cli("enqueue", "--sweep", "p", "--subtasks", SUBTASKS, "--n-per-subtask",
                    "2", "--arms", "haiku-only", "--dataset", str(sample_bbh), "--scorer",
                    "echo", db=db_path)
    assert again.returncode != 0 and "scorer" in again.stderr


def test_summary_by_subtask_table_and_json_with_wilson_intervals(
        db_path: Path, sample_bbh: Path) -> None:
    run_cli("enqueue", "--sweep", "p", "--subtasks", "web_of_lies,boolean_expressions",
            "--n-per-subtask", "2", "--arms", "haiku-only", "--dataset", str(sample_bbh),
            db=db_path, check=True)
    with FakeAPI(FakeConfig()) as fake:
        fake.script([reply("Answer: A"), reply("Answer: A"), reply("nothing"),
                     reply("Answer: B")])
        run_cli("work", "--sweep", "p", "-c", "1", "--quiet", db=db_path, fake=fake,
                check=True)
    tasks = load_tasks(["web_of_lies", "boolean_expressions"], 2, 0, str(sample_bbh))
    web = sum(t.answer == "A" for t in tasks[:2])
    boolean = int(tasks[3].answer == "B")
    data = json.loads(run_cli("summary", "--sweep", "p", "--by", "subtask", "--json",
                              db=db_path, check=True).stdout)
    rows = {r["subtask"]: r for r in data["rows"]}
    assert list(rows) == ["web_of_lies", "boolean_expressions"]
    assert rows["web_of_lies"]["passed"] == web and rows["web_of_lies"]["n"] == 2
    assert rows["boolean_expressions"]["passed"] == boolean
    assert rows["boolean_expressions"]["unparseable"] == 1
    low, high = wilson_interval(web, 2)
    assert rows["web_of_lies"]["ci_low"] == round(low, 6)
    assert rows["web_of_lies"]["ci_high"] == round(high, 6)
    table = run_cli("summary", "--sweep", "p", "--by", "subtask", db=db_path,
                    check=True).stdout
    assert "web_of_lies" in table and "boolean_expressions" in table and "95% CI" in table


def test_custom_scorer_from_an_entry_point(tmp_path: Path, sample_bbh: Path,
                                           db_path: Path, monkeypatch) -> None:
    """A real installed-distribution layout: a dist-info whose entry_points.txt registers
    a scorer under `sweepq.scorers` (on this process's path: `importlib.metadata` finds
    it as it finds any installed one); enqueue stores its name, work and rescore use it."""
    import textwrap

    from sweepq import scorers

    site = tmp_path / "site"
    dist = site / "sweepq_test_scorers-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sweepq-test-scorers\n"
                                   "Version: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[sweepq.scorers]\nlength = sweepq_test_scorers:by_length\n")
    (site / "sweepq_test_scorers.py").write_text(textwrap.dedent('''
        def by_length(output, task):
            return len(output) > 12, f"length {len(output)}"
    '''))
    monkeypatch.syspath_prepend(str(site))
    scorers.registry.cache_clear()
    with FakeAPI(FakeConfig()) as fake:
        run_cli("enqueue", "--sweep", "p", "--subtasks", SUBTASKS, "--n-per-subtask", "2",
                "--arms", "haiku-only", "--dataset", str(sample_bbh), "--scorer", "length",
                db=db_path, check=True)
        fake.script([reply("Answer: A"), reply("Reasoning.\nAnswer: B")])
        run_cli("work", "--quiet", "-c", "1", db=db_path, fake=fake, check=True)
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT passed, detail FROM results ORDER BY completion_seq")
        assert rows.fetchall() == [(0, "length 9"), (1, "length 20")]
    done = run_cli("rescore", "--sweep", "p", "--scorer", "sweepq", db=db_path, check=True)
    assert "haiku-only: 2 of 2 verdicts changed" in done.stdout
    scorers.registry.cache_clear()


def test_the_page_has_the_table_by_subtask(db_path: Path, sample_bbh: Path) -> None:
    run_cli("enqueue", "--sweep", "p", "--subtasks", "web_of_lies,boolean_expressions",
            "--n-per-subtask", "1", "--arms", "haiku-only", "--dataset", str(sample_bbh),
            db=db_path, check=True)
    with FakeAPI(FakeConfig()) as fake:
        run_cli("work", "--sweep", "p", "--quiet", db=db_path, fake=fake, check=True)
    page = run_cli("report", "--sweep", "p", "-o", "-", db=db_path, check=True).stdout
    table = page[page.index('id="by-subtask"'):]
    assert "<td>web_of_lies</td>" in table and "<td>boolean_expressions</td>" in table


def test_a_result_that_goes_takes_its_rescored_verdict(db_path: Path, sample_bbh: Path) -> None:
    with FakeAPI(FakeConfig()) as fake:
        finished_sweep(db_path, sample_bbh, fake)
    run_cli("rescore", "--sweep", "p", "--scorer", "echo", db=db_path, check=True)
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM verdicts").fetchone() == (6,)
        conn.execute("UPDATE jobs SET state = 'pending', finished_at = NULL"
                     " WHERE job_id = (SELECT min(job_id) FROM jobs)")
        assert conn.execute("SELECT count(*) FROM verdicts").fetchone() == (5,)
