"""Benchmarks as plug-ins: the registry, an installed package's entry point, options.

The entry-point benchmark is a real distribution (a `.dist-info` with `entry_points.txt`
and its module) on sys.path, found by `importlib.metadata` as any installed one is; it
then runs through enqueue, work (the real SDK to the fake on loopback), summary and
export exactly as the built-ins do.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmark_helpers import answer_key, exported, payloads
from conftest import run_cli

from sweepq import benchmarks
from sweepq.errors import SweepqError
from sweepq.fake import FakeAPI, FakeConfig

TINY = '''
from sweepq.task import Task
from sweepq.benchmarks import Base

class Tiny(Base):
    """Sums: a group per size, the task id tiny/<group>/<i>."""
    name = "tiny"
    options = {"scale": "multiply every sum by this"}

    def groups(self, names, options):
        return ["small", "large"] if names in ([], ["all"]) else list(names)

    def load(self, selection):
        scale = int(selection.options.get("scale", 1))
        out = []
        for group in selection.groups:
            base = 1 if group == "small" else 100
            for i in range(selection.start, selection.start + (selection.n or 3)):
                out.append(Task(task_id=f"tiny/{group}/{i}", subtask=group, index=i,
                                question=f"What is {base} + {i}, times {scale}?", choices=(),
                                target=str((base + i) * scale), answer=str((base + i) * scale),
                                prompt="", extra={"benchmark": self.name}))
        return out
'''


@pytest.fixture
def tiny_installed(tmp_path, monkeypatch):
    """The `tinybench` distribution, registering `tiny` under `sweepq.benchmarks`."""
    site = tmp_path / "site"
    (site / "tinybench").mkdir(parents=True)
    (site / "tinybench" / "__init__.py").write_text(TINY)
    info = site / "tinybench-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinybench\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[sweepq.benchmarks]\ntiny = tinybench:Tiny\n")
    monkeypatch.syspath_prepend(str(site))
    benchmarks.registry.cache_clear()
    yield
    benchmarks.registry.cache_clear()


def test_builtins_are_registered_through_the_entry_point_group():
    from importlib.metadata import entry_points

    names = {e.name for e in entry_points(group=benchmarks.ENTRY_POINT_GROUP)}
    assert {"bbh", "mmlu-pro", "humaneval", "jsonl", "csv", "hf"} <= names
    assert benchmarks.get("mmlu-pro") is benchmarks.get("mmlu_pro")   # stored name too


def test_an_installed_package_benchmark_runs_like_a_builtin(tiny_installed, tmp_path):
    db = tmp_path / "t.db"
    done = run_cli("enqueue", "--sweep", "t", "--benchmark", "tiny", "--subtasks", "all",
                   "--n-per-subtask", "2", "--option", "scale=3",
                   "--arms", "haiku-only,echo-lexical", db=db)
    assert done.returncode == 0, done.stderr
    tasks = payloads(db, "t")
    assert [p["task_id"] for p in tasks] == ["tiny/small/0", "tiny/small/1",
                                             "tiny/large/0", "tiny/large/1"]
    assert tasks[0]["benchmark"] == "tiny" and tasks[3]["answer"] == "303"
    key = answer_key(db, "t", **{"tiny/large/1": "999"})     # one answered wrong
    with FakeAPI(FakeConfig(answer_key=key)) as fake:
        assert run_cli("work", "--sweep", "t", "-q", db=db, fake=fake).returncode == 0
    summary = json.loads(run_cli("summary", "--sweep", "t", "--by", "subtask", "--json",
                                 db=db, check=True).stdout)
    assert summary["benchmark"] == "tiny"
    rows = {(r["arm"], r["subtask"]): r["passed"] for r in summary["rows"]}
    assert rows == {("haiku-only", "small"): 2, ("haiku-only", "large"): 1,
                    ("echo-lexical", "small"): 2, ("echo-lexical", "large"): 1}
    run_cli("export", "--sweep", "t", str(tmp_path / "t.jsonl"), db=db, check=True)
    lines = exported(tmp_path / "t.jsonl")
    assert lines[0]["_meta"] and lines[0]["benchmark"] == "tiny"
    assert {r["benchmark"] for r in lines[1:]} == {"tiny"} and len(lines) == 9
    wrong = [r for r in lines[1:] if r["task_id"] == "tiny/large/1"]
    assert {r["detail"] for r in wrong} == {"expected 303 got 999"}


def test_an_entry_point_benchmarks_options_are_checked(tiny_installed, tmp_path):
    db = tmp_path / "t.db"
    bad = run_cli("enqueue", "--sweep", "t", "--benchmark", "tiny", "--split", "test",
                  "--arms", "haiku-only", db=db)
    assert bad.returncode == 1 and not db.exists()
    assert bad.stderr.strip() == ("sweepq: error: --split does not apply to benchmark tiny "
                                  "(its options: `scale`)")


@pytest.mark.parametrize(("args", "message"), [
    (["--benchmark", "nope"], "--benchmark: unknown benchmark 'nope': known benchmarks are "
                              "bbh, csv, hf, humaneval, jsonl, mmlu-pro"),
    (["--split", "test", "--subtasks", "navigate", "--n-per-subtask", "1"],
     "--split does not apply to benchmark bbh (its options: none)"),
    (["--benchmark", "humaneval", "--field", "question=q"],
     "--field does not apply to benchmark humaneval"),
    (["--benchmark", "humaneval", "--subtasks", "navigate"], "HumanEval has no subtasks"),
    (["--benchmark", "humaneval", "--option", "timeout=0"],
     "timeout must be seconds from 0.1 to 600"),
    (["--benchmark", "mmlu-pro", "--subtasks", "astrology"], "unknown MMLU-Pro category"),
    (["--benchmark", "jsonl", "--field", "question=q"], "benchmark jsonl needs --field "
                                                        "answer=COLUMN"),
    (["--benchmark", "jsonl", "--field", "question"], "--field: 'question' is not KEY=VALUE"),
    (["--subtasks", "navigate"], "BBH needs --n-per-subtask N"),
])
def test_benchmark_mistakes_are_one_line_and_write_nothing(tmp_path, args, message):
    db = tmp_path / "t.db"
    done = run_cli("enqueue", "--sweep", "s", "--arms", "haiku-only", "--dataset",
                   str(tmp_path), *args, db=db)
    assert done.returncode == 1, done.stdout
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr, done.stderr
    assert not db.exists()


def test_check_options_names_what_the_benchmark_takes():
    with pytest.raises(SweepqError, match=r"`split` does not apply to benchmark humaneval "
                                          r"\(its options: `timeout`\)"):
        benchmarks.check_options(benchmarks.get("humaneval"), {"split": "test"})
    assert benchmarks.check_options(benchmarks.get("mmlu-pro"), {"split": None}) == {}


def test_a_bbh_payload_is_unchanged_and_a_task_keeps_its_benchmarks_fields():
    from sweepq.task import Task

    task = Task("bbh/navigate/0", "navigate", 0, "Q", (), "Yes", "Yes", "p")
    assert "extra" not in task.payload() and "benchmark" not in task.payload()
    code = Task("HumanEval/1", "humaneval", 1, "def f():\n", (), "x", "x", "",
                extra={"benchmark": "humaneval", "entry_point": "f"})
    back = Task.from_payload(json.loads(json.dumps(code.payload())))
    assert back.extra == {"benchmark": "humaneval", "entry_point": "f"}
    assert benchmarks.of(back) == "humaneval" and benchmarks.of(task) == "bbh"


def test_the_selection_all_and_the_stored_options(tmp_path: Path):
    from sweepq import mmlu_pro

    assert benchmarks.get("mmlu-pro").groups(["all"], {}) == [
        mmlu_pro.category_slug(c) for c in mmlu_pro.CATEGORIES]
    assert benchmarks.get("bbh").groups(["all"], {})[0] == "boolean_expressions"


def test_the_python_api_enqueues_any_benchmark_with_its_options(tiny_installed, tmp_path):
    import sweepq

    db = sweepq.open(tmp_path / "p.db")
    done = db.enqueue("p", benchmark="tiny", subtasks="small", n_per_subtask=1,
                      options={"scale": 5}, arms="haiku-only")
    assert done.sweep.benchmark == "tiny" and done.sweep.options == {"scale": 5}
    again = sweepq.open(tmp_path / "p.db").sweeps()
    assert again[0]["benchmark"] == "tiny"
    assert payloads(tmp_path / "p.db", "p")[0]["answer"] == "5"
    with pytest.raises(SweepqError, match="options is {'scale': 5}, given {'scale': 6}"):
        db.enqueue("p", benchmark="tiny", subtasks="small", n_per_subtask=1,
                   options={"scale": 6}, arms="haiku-only")
