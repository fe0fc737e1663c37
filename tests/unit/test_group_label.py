"""`summary --by subtask` names a sweep's groups as its benchmark does: BBH's subtasks,
MMLU-Pro's categories, HumanEval's one group, a question bank's mapped column, a plug-in's
own word. `--by subtask` still works for every benchmark (scripts predate the words), the
benchmark's word works as well, and the JSON keeps its `subtask` key beside the new
`group_label`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from sweepq import benchmarks
from sweepq.benchmarks import Base
from sweepq.fake import FakeAPI, FakeConfig
from sweepq.sample import write_humaneval


def _mmlu_sweep(tmp_path: Path) -> Path:
    import pandas as pd  # at run time: collection need not import it

    rows = [{"question_id": qid, "question": f"Question {qid}?",
             "options": [f"choice {i}" for i in range(4)], "answer": "B", "answer_index": 1,
             "cot_content": "", "category": category, "src": "ori_mmlu-test"}
            for qid, category in ((1, "law"), (2, "law"), (3, "math"))]
    data = tmp_path / "test-00000.parquet"
    pd.DataFrame(rows).to_parquet(data)
    db = tmp_path / "m.db"
    run_cli("enqueue", "--sweep", "m", "--benchmark", "mmlu-pro", "--dataset", str(data),
            "--subtasks", "law,math", "--arms", "haiku-only", db=db, check=True)
    with FakeAPI(FakeConfig()) as fake:
        run_cli("work", "--sweep", "m", "-q", db=db, fake=fake, check=True)
    return db


def test_mmlu_pro_groups_are_categories_in_the_table_json_and_page(tmp_path: Path) -> None:
    db = _mmlu_sweep(tmp_path)
    by = json.loads(run_cli("summary", "--sweep", "m", "--by", "subtask", "--json", db=db,
                            check=True).stdout)
    assert by["group_label"] == "category"
    assert [(r["subtask"], r["n"]) for r in by["rows"]] == [("law", 2), ("math", 1)]
    alias = json.loads(run_cli("summary", "--sweep", "m", "--by", "category", "--json",
                               db=db, check=True).stdout)
    assert alias == by                                   # the benchmark's word: same table
    header = run_cli("summary", "--sweep", "m", "--by", "category", db=db,
                     check=True).stdout.splitlines()[1].split()
    assert header[:2] == ["arm", "category"]
    page = run_cli("report", "--sweep", "m", "-o", "-", db=db, check=True).stdout
    section = page[page.index('aria-label="by category"'):]
    assert "<h2>By category</h2>" in section and "<th scope=col>Category</th>" in section
    assert "By subtask" not in page


def test_bbh_keeps_subtask_and_refuses_another_word(db_path: Path, sample_bbh: Path) -> None:
    run_cli("enqueue", "--sweep", "b", "--subtasks", "web_of_lies", "--n-per-subtask", "1",
            "--arms", "haiku-only", "--dataset", str(sample_bbh), db=db_path, check=True)
    by = json.loads(run_cli("summary", "--by", "subtask", "--json", db=db_path,
                            check=True).stdout)
    assert by["group_label"] == "subtask"
    assert run_cli("summary", "--by", "subtask", db=db_path,
                   check=True).stdout.splitlines()[1].split()[:2] == ["arm", "subtask"]
    refused = run_cli("summary", "--by", "category", db=db_path)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().count("\n") == 0
    assert "--by" in refused.stderr and "arm or subtask" in refused.stderr


def test_humaneval_is_one_group(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    run_cli("enqueue", "--sweep", "h", "--benchmark", "humaneval", "--dataset",
            str(write_humaneval(tmp_path / "he.jsonl")), "--n-per-subtask", "2", "--arms",
            "haiku-only", db=db, check=True)
    with FakeAPI(FakeConfig()) as fake:
        run_cli("work", "--sweep", "h", "-q", db=db, fake=fake, check=True)
    for by in ("subtask", "group"):
        data = json.loads(run_cli("summary", "--by", by, "--json", db=db, check=True).stdout)
        assert data["group_label"] == "group"
        assert [(r["subtask"], r["n"]) for r in data["rows"]] == [("humaneval", 2)]


@pytest.mark.parametrize(("fields", "label"), [
    (("--field", "subtask=topic"), "topic"),
    ((), "group"),
])
def test_a_bank_names_its_groups_by_its_column(tmp_path: Path, fields: tuple[str, ...],
                                               label: str) -> None:
    bank = tmp_path / "bank.jsonl"
    bank.write_text(json.dumps({"q": "One?", "opts": ["x", "y"], "gold": "A",
                                "topic": "easy"}) + "\n")
    db = tmp_path / "b.db"
    run_cli("enqueue", "--sweep", "bank", "--benchmark", "jsonl", "--dataset", str(bank),
            "--field", "question=q", "--field", "choices=opts", "--field", "answer=gold",
            *fields, "--arms", "haiku-only", db=db, check=True)
    data = json.loads(run_cli("summary", "--by", label, "--json", db=db, check=True).stdout)
    assert data["group_label"] == label


class _Mine(Base):
    name = "mine"
    group_label = "level"


class _Bare:                  # a plug-in that does not build on Base and names no groups
    name = "bare"


def test_a_plug_in_sets_its_word_and_one_without_gets_subtask(monkeypatch) -> None:
    monkeypatch.setattr(benchmarks, "registry", lambda: {"mine": _Mine(), "bare": _Bare()})
    assert benchmarks.group_label_of("mine", {}) == "level"
    assert benchmarks.group_label_of("bare", {}) == "subtask"
    assert benchmarks.group_label_of("gone-plugin", {}) == "subtask"   # never raises
