"""MMLU-Pro through the real `datasets` path, on small files in the data set's own format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweepq import mmlu_pro
from sweepq.errors import SweepqError
from sweepq.mmlu_pro import Question, load, score, select_categories

LETTERS = "ABCDEFGHIJ"


def _row(qid: int, category: str, n_options: int = 10, gold: int = 2, **over) -> dict:
    row = {
        "question_id": qid, "question": f"Question {qid} about {category}?",
        "options": [f"option {i} of {qid}" for i in range(n_options)],
        "answer": LETTERS[gold], "answer_index": gold,
        "cot_content": "", "category": category, "src": f"ori_mmlu-{category}",
    }
    row.update(over)
    return row


ROWS = [
    _row(71, "physics", gold=9), _row(12, "physics", gold=0), _row(40, "physics", n_options=4),
    _row(7, "computer science", gold=5), _row(3, "law", n_options=9, gold=8),
]


def _parquet(path: Path, rows: list[dict]) -> Path:
    import pandas as pd  # at run time: collection need not import it

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_parquet_questions_in_the_teams_ids_and_order(tmp_path):
    data = _parquet(tmp_path / "mmlu.parquet", ROWS)
    got = load("physics,computer_science", dataset=str(data))
    assert [q.task_id for q in got] == [
        "mmlu_pro/physics/12", "mmlu_pro/physics/40", "mmlu_pro/physics/71",
        "mmlu_pro/computer_science/7",
    ]
    first = got[0]
    assert isinstance(first, Question)
    assert (first.category, first.gold, len(first.options)) == ("physics", "A", 10)
    assert first.choices[9] == ("J", "option 9 of 12")
    assert [q.gold for q in got] == ["A", "C", "J", "F"]
    assert len(got[1].options) == 4


@pytest.mark.parametrize("kind", ["json", "jsonl"])
def test_json_copies_load_the_same(tmp_path, kind):
    file = tmp_path / f"mmlu.{kind}"
    text = (json.dumps(ROWS) if kind == "json"
            else "".join(json.dumps(r) + "\n" for r in ROWS))
    file.write_text(text)
    parquet = load("all", dataset=str(_parquet(tmp_path / "m.parquet", ROWS)))
    assert load("all", dataset=str(file)) == parquet
    assert {q.category for q in parquet} == {"physics", "computer science", "law"}


def test_a_directory_in_the_hubs_layout_and_its_splits(tmp_path):
    _parquet(tmp_path / "data" / "test-00000-of-00001.parquet", ROWS)
    _parquet(tmp_path / "data" / "validation-00000-of-00001.parquet", [_row(1, "law")])
    assert len(load("law", dataset=str(tmp_path))) == 1
    assert [q.task_id for q in load("law", dataset=str(tmp_path), split="validation")] == [
        "mmlu_pro/law/1"]


def test_start_and_n_per_category(tmp_path):
    data = str(_parquet(tmp_path / "m.parquet", ROWS))
    got = load(["physics", "law"], dataset=data, start=1, n_per_category=1)
    assert [q.task_id for q in got] == ["mmlu_pro/physics/40"]


def test_a_question_survives_a_jobs_json_payload(tmp_path):
    q = load("law", dataset=str(_parquet(tmp_path / "m.parquet", ROWS)))[0]
    assert Question.from_payload(json.loads(json.dumps(q.payload()))) == q


def test_all_selects_the_fourteen_categories():
    assert select_categories("all") == list(mmlu_pro.CATEGORIES)
    assert len(mmlu_pro.CATEGORIES) == 14
    assert select_categories("computer science, math") == ["computer science", "math"]


@pytest.mark.parametrize(("row", "words"), [
    (_row(5, "physics", options=[]), "question_id 5 ('physics') has no options"),
    (_row(6, "physics", n_options=4, gold=2, answer="E"), "gold 'E' outside its labels A-D"),
    (_row(8, "physics", answer_index=1), "has answer C but answer_index 1"),
    (_row(9, "physics", n_options=11), "has 11 options"),
])
def test_bad_rows_are_refused_naming_the_row(tmp_path, row, words):
    data = str(_parquet(tmp_path / "m.parquet", [*ROWS, row]))
    with pytest.raises(SweepqError) as exc:
        load("physics", dataset=data)
    message = str(exc.value)
    assert words in message and "\n" not in message


def test_unknown_categories_and_bad_counts_are_one_line_errors(tmp_path):
    with pytest.raises(SweepqError, match="unknown MMLU-Pro category 'astrology'"):
        select_categories("physics,astrology")
    data = str(_parquet(tmp_path / "m.parquet", ROWS))
    with pytest.raises(SweepqError, match="use test or validation"):
        load("physics", dataset=data, split="train")
    with pytest.raises(SweepqError, match="lacks the column"):
        load("physics", dataset=str(_parquet(tmp_path / "x.parquet", [{"question": "q"}])))


def test_the_hub_offline_is_one_line():
    with pytest.raises(SweepqError, match="pass `dataset` PATH") as exc:
        load("physics")
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(("reply", "gold", "n", "expected"), [
    ("Reasoning...\nAnswer: I", "I", 9, (True, "passed")),
    ("Answer: A", "C", 10, (False, "expected C got A")),
    ("Answer: J", "D", 4, (False, "unparseable")),
    ("The answer is (J).", "J", 10, (True, "passed")),
    ("so $\\boxed{C}$", "C", 4, (True, "passed")),
    ("Option C is correct.", "C", 4, (True, "passed")),
    ("Thus, (B) is right", "C", 4, (False, "expected C got B")),
    ("\\boxed{J}", "C", 4, (False, "unparseable")),
    ("so a is correct", "A", 4, (False, "unparseable")),
    # bbh_answers.score reads first, and there the last declaration wins
    ("Answer: B\nOption C is correct", "C", 4, (True, "passed")),
])
def test_scoring_follows_the_teams_rules(reply, gold, n, expected):
    q = mmlu_pro.question_from_row(_row(42, "physics", n_options=n,
                                        gold=LETTERS.index(gold)))
    assert score(reply, q) == expected
