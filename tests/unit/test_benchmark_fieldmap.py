"""A question bank by a field map (`--benchmark jsonl|csv|hf --field KEY=COLUMN`): enqueued,
run against the fake, summarised and exported with no code; its rows read by `datasets`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmark_helpers import answer_key, exported, payloads
from conftest import run_cli

from sweepq import benchmarks
from sweepq.errors import SweepqError
from sweepq.fake import FakeAPI, FakeConfig

BANK = [
    {"qid": "geo-1", "topic": "geography", "q": "Capital of France?",
     "opts": ["Lyon", "Paris", "Nice"], "gold": "Paris"},
    {"qid": "geo-2", "topic": "geography", "q": "Longest river?",
     "opts": ["Nile", "Rhine", "Seine", "Po"], "gold": 0},
    {"qid": "sci-1", "topic": "science", "q": "H2O is?",
     "opts": ["salt", "water"], "gold": "B"},
]
FIELDS = ("--field", "question=q", "--field", "choices=opts", "--field", "answer=gold",
          "--field", "id=qid", "--field", "subtask=topic")


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_jsonl_question_bank_runs_with_no_code(tmp_path):
    # answers as a choice's text, a 0-based index and a label; mixed types need strings
    rows = [{**r, "gold": str(r["gold"])} for r in BANK]
    rows[1]["gold"] = "A"
    bank = _jsonl(tmp_path / "bank.jsonl", rows)
    db = tmp_path / "b.db"
    run_cli("enqueue", "--sweep", "bank", "--benchmark", "jsonl", "--dataset", str(bank),
            *FIELDS, "--arms", "haiku-only", db=db, check=True)
    tasks = payloads(db, "bank")
    assert [(t["task_id"], t["subtask"], t["answer"]) for t in tasks] == [
        ("geo-1", "geography", "B"), ("geo-2", "geography", "A"), ("sci-1", "science", "B")]
    assert "(C) Nice" in tasks[0]["prompt"]
    key = answer_key(db, "bank", **{"sci-1": "A"})
    with FakeAPI(FakeConfig(answer_key=key)) as fake:
        assert run_cli("work", "--sweep", "bank", "-q", db=db, fake=fake).returncode == 0
    by = json.loads(run_cli("summary", "--sweep", "bank", "--by", "subtask", "--json",
                            db=db, check=True).stdout)
    assert [(r["subtask"], r["n"], r["passed"]) for r in by["rows"]] == [
        ("geography", 2, 2), ("science", 1, 0)]
    run_cli("export", "--sweep", "bank", str(tmp_path / "b.jsonl"), db=db, check=True)
    assert {r["benchmark"] for r in exported(tmp_path / "b.jsonl")[1:]} == {"jsonl"}


def test_a_csv_bank_with_choices_in_columns_and_a_selection(tmp_path):
    bank = tmp_path / "bank.csv"
    bank.write_text("id,kind,question,a,b,c,right\n1,easy,One?,x,y,z,C\n2,hard,Two?,p,q,r,A\n"
                    "3,easy,Three?,u,v,w,B\n")
    db = tmp_path / "c.db"
    run_cli("enqueue", "--sweep", "c", "--benchmark", "csv", "--dataset", str(bank),
            "--field", "question=question", "--field", "choices=a,b,c", "--field",
            "answer=right", "--field", "subtask=kind", "--subtasks", "easy", "--arms",
            "haiku-only", db=db, check=True)
    tasks = payloads(db, "c")
    assert [(t["task_id"], t["answer"]) for t in tasks] == [("csv/0", "C"), ("csv/2", "B")]
    assert tasks[0]["choices"] == [["A", "x"], ["B", "y"], ["C", "z"]]


def test_free_text_answers_are_an_exact_match(tmp_path):
    bank = _jsonl(tmp_path / "free.jsonl", [{"q": "2+2?", "a": "4"}, {"q": "Sky?", "a": "Blue"}])
    db = tmp_path / "f.db"
    run_cli("enqueue", "--sweep", "f", "--benchmark", "jsonl", "--dataset", str(bank),
            "--field", "question=q", "--field", "answer=a", "--arms", "haiku-only",
            db=db, check=True)
    key = answer_key(db, "f", **{"jsonl/1": "Green"})
    with FakeAPI(FakeConfig(answer_key=key)) as fake:
        run_cli("work", "--sweep", "f", "-q", db=db, fake=fake, check=True)
    run_cli("export", "--sweep", "f", str(tmp_path / "f.jsonl"), "--order", "canonical",
            db=db, check=True)
    assert [(r["task_id"], r["detail"]) for r in exported(tmp_path / "f.jsonl")[1:]] == [
        ("jsonl/0", "passed"), ("jsonl/1", "expected Blue got Green")]


def test_an_hf_bank_is_a_data_set_folder_through_datasets(tmp_path):
    folder = tmp_path / "bank"
    folder.mkdir()
    _jsonl(folder / "train.jsonl", [{"q": "One?", "a": "1"}])
    _jsonl(folder / "test.jsonl", [{"q": "Two?", "a": "2"}, {"q": "Three?", "a": "3"}])
    db = tmp_path / "h.db"
    run_cli("enqueue", "--sweep", "h", "--benchmark", "hf", "--dataset", str(folder),
            "--split", "test", "--field", "question=q", "--field", "answer=a", "--arms",
            "haiku-only", db=db, check=True)
    assert [t["question"] for t in payloads(db, "h")] == ["Two?", "Three?"]


@pytest.mark.parametrize(("rows", "fields", "message"), [
    ([{"q": "Q?", "opts": ["a", "b"], "gold": "C"}], {"choices": "opts"},
     "jsonl row 0 has answer 'C', which is none of its choices' labels (A-B)"),
    ([{"q": "Q?", "opts": [], "gold": "A"}], {"choices": "opts"}, "jsonl row 0: choices must"),
    ([{"q": "", "gold": "A"}], {}, "jsonl row 0 has no question"),
    ([{"q": "Q?", "gold": "A", "i": 1}, {"q": "R?", "gold": "B", "i": 1}], {"id": "i"},
     "jsonl row 1: task id '1' appears twice"),
    ([{"q": "Q?", "gold": "A"}], {"choices": "nope"}, "the data has no column 'nope'"),
])
def test_bad_rows_are_refused_naming_the_row(tmp_path, rows, fields, message):
    bank = _jsonl(tmp_path / "bad.jsonl", rows)
    options = {"field": {"question": "q", "answer": "gold", **fields}}
    with pytest.raises(SweepqError, match=message.replace("(", r"\(").replace(")", r"\)")):
        benchmarks.get("jsonl").load(benchmarks.Selection((), None, 0, str(bank), options))


def test_a_field_map_without_question_or_with_unknown_keys_is_refused():
    jsonl = benchmarks.get("jsonl")
    with pytest.raises(SweepqError, match="needs `field` question=COLUMN"):
        jsonl.groups([], {"field": {"answer": "a"}})
    with pytest.raises(SweepqError, match="unknown field key gold"):
        jsonl.groups([], {"field": {"question": "q", "answer": "a", "gold": "g"}})
    with pytest.raises(SweepqError, match="map one, or leave `subtasks` out"):
        jsonl.groups(["easy"], {"field": {"question": "q", "answer": "a"}})
