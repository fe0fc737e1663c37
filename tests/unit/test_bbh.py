"""Tests for sweepq.bbh (loading from both sources, prompts) and sweepq.bbh_answers (answer
extraction, scoring)."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before datasets/huggingface_hub read it

import json
import re
from pathlib import Path

import pytest
from conftest import BBH_DIR, examples, shared
from hypothesis import given, settings
from hypothesis import strategies as st

from sweepq import bbh
from sweepq.bbh import FREE_FORM, SUBTASKS, load_tasks, make_task
from sweepq.bbh_answers import extract_answer, fold, score
from sweepq.errors import SweepqError
from sweepq.task import Task

CHOICE_RE = re.compile(r"^\(([A-Z])\) (.*)$", re.M)


def mc(n: int = 4, gold: str = "(B)", subtask: str = "date_understanding") -> Task:
    """A multiple-choice task with options (A)..: 'opt a', 'opt b', …"""
    choices = [(chr(65 + i), f"opt {chr(97 + i)}") for i in range(n)]
    return make_task(subtask, 0, "Which one?", gold, choices)


def yes_no(gold: str = "No") -> Task:
    return make_task("navigate", 3, "Do you return?\nOptions:\n- Yes\n- No", gold)


def free(subtask: str, gold: str) -> Task:
    return make_task(subtask, 0, "Q?", gold)


def write_bbh(root: Path, subtask: str, examples: list[dict[str, str]]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{subtask}.json").write_text(json.dumps({"examples": examples}))


# --------------------------------------------------------------------------- constants


def test_subtask_constants():
    assert len(SUBTASKS) == 27 and len(set(SUBTASKS)) == 27
    assert FREE_FORM == {
        "dyck_languages",
        "multistep_arithmetic_two",
        "object_counting",
        "word_sorting",
    }
    assert FREE_FORM <= set(SUBTASKS)
    assert bbh.HF_DATASET == "Joschka/big_bench_hard"
    assert set(SUBTASKS) == {p.stem for p in BBH_DIR.glob("*.json")}


# --------------------------------------------------------------------------- scoring


@pytest.mark.parametrize(
    "output",
    [
        "Answer: B",
        "answer: (B)",
        "Thinking...\nThe answer is B.",
        "So the correct choice is (B)",
        "final answer: (B)",
        "**Answer: B**",
        "**Answer:** B",
        "Answer: `B`",
        "The best option would be (B) opt b.",
        "Answer:\n(B)",
        "The answer is opt b.",
    ],
)
def test_declaration_phrasings(output):
    assert score(output, mc()) == (True, "passed")


@pytest.mark.parametrize(
    ("output", "want"),
    [
        ("Answer: A\nOn reflection, the answer is C.", "C"),
        ("The answer is C. Hmm, no.\nThe correct choice is (B)", "B"),
        ("correct choice is (B)\n...\nfinal answer: (D)", "D"),
        ("final answer: (D)\nWait, I misread.\n**Answer: B**", "B"),
        ("**Answer: B**\nmore thought\nAnswer: A", "A"),
    ],
)
def test_last_declaration_wins(output, want):
    assert extract_answer(output, mc()) == want


def test_declaration_beats_positional_guess():
    out = "Answer: C\nLet me list them:\n(A)\n(B)"
    assert extract_answer(out, mc()) == "C"


@pytest.mark.parametrize(
    "output",
    [
        "the answer is straightforward once we line them up.",
        "The answer is dependent on who arrived first.",
        "I think the answer is a matter of ordering.",
        "the answer is a",
    ],
)
def test_non_answers_after_the_answer_is(output):
    assert extract_answer(output, mc()) is None
    assert score(output, mc()) == (False, "unparseable")


def test_non_answer_phrase_does_not_override_a_real_declaration():
    out = "Answer: C\nIn hindsight the answer is straightforward."
    assert extract_answer(out, mc()) == "C"


def test_article_a_is_not_a_label_even_when_a_choice_text_is_a_letter():
    t = make_task("date_understanding", 0, "Q", "(A)", [("A", "B"), ("B", "A")])
    assert extract_answer("the answer is a", t) is None


def test_early_answer_with_trailing_text():
    out = "Answer: D\n" + "\n".join(f"Some afterthought number {i}." for i in range(8))
    assert extract_answer(out, mc()) == "D"


def test_lone_label_counts_near_the_end():
    assert extract_answer("Reasoning here.\nMore.\n(B)", mc()) == "B"
    assert extract_answer("Reasoning here.\n(C)\n\nHope that helps!", mc()) == "C"
    assert extract_answer("Reasoning.\nC.", mc()) == "C"
    assert extract_answer("All told, I pick\nD", mc()) == "D"
    assert extract_answer("Answer: **(D)**", mc()) == "D"
    assert extract_answer("So the final answer is $\\boxed{D}$", mc()) == "D"


def test_lone_label_early_does_not_count():
    out = "(B)\n" + "\n".join(f"step {i}: compare the dates carefully" for i in range(10))
    assert extract_answer(out, mc()) is None


def test_label_ending_a_sentence_is_not_an_answer():
    assert extract_answer("Dates line up.\nThe answer is not (A).", mc()) is None


def test_mentions_in_reasoning_are_unparseable():
    out = "I considered (A), then (B), and option (C) looks odd.\nHard to say really."
    assert score(out, mc()) == (False, "unparseable")


@pytest.mark.parametrize(
    ("output", "want"),
    [
        ("Answer: No", "B"),
        ("answer: no.", "B"),
        ("The answer is YES!", "A"),
        ("Answer: B", "B"),
        ("Answer: (A) Yes", "A"),
        ("So we end up elsewhere.\nNo", "B"),
    ],
)
def test_binary_accepts_letter_or_text(output, want):
    assert extract_answer(output, yes_no()) == want


def test_binary_without_options_block_gets_implicit_choices():
    t = make_task("boolean_expressions", 0, "not ( True ) is", "False")
    assert t.choices == (("A", "True"), ("B", "False")) and t.answer == "B"
    assert score("Answer: false", t) == (True, "passed")
    assert score("Answer: True", t) == (False, "expected B got A")
    s = make_task("sports_understanding", 0, "Is it plausible?", "yes")
    assert s.answer == "A" and s.target == "yes"


def test_letter_target_resolves_to_its_own_label():
    t = make_task("date_understanding", 0, "Q", "(A)", [("A", "B"), ("B", "A")])
    assert t.answer == "A"
    assert extract_answer("Answer: A", t) == "A"
    assert score("Answer: A", t) == (True, "passed")
    assert score("Answer: B", t) == (False, "expected A got B")


def test_unlabelled_choices_fall_back_to_letters():
    t = make_task(
        "date_understanding", 0, "Q", "gamma", [(None, "alpha"), ("", "beta"), (None, "gamma")]
    )
    assert [lab for lab, _ in t.choices] == ["A", "B", "C"] and t.answer == "C"
    f = make_task("formal_fallacies", 0, "Valid?\nOptions:\n- valid \n- invalid", "invalid")
    assert f.choices == (("A", "valid"), ("B", "invalid")) and f.answer == "B"
    assert extract_answer("Answer: invalid", f) == "B"
    assert extract_answer("Answer: valid", f) == "A"


def test_split_option_is_repaired_when_gold_is_text():
    q = "Find a movie:\nOptions:\n(A) Monsters\n(B) Inc\n(C) Up\n(D) Cars"
    t = make_task("movie_recommendation", 7, q, "Monsters, Inc")
    assert t.choices == (("A", "Monsters, Inc"), ("B", "Up"), ("C", "Cars")) and t.answer == "A"


def test_gold_matching_no_option_is_a_clear_error():
    with pytest.raises(SweepqError, match="bbh/date_understanding/0: gold 'zzz' matches no option"):
        make_task("date_understanding", 0, "Q\nOptions:\n(A) x\n(B) y", "zzz")


def test_detail_format_matches_historical_files():
    t = mc()
    assert score("Answer: B", t) == (True, "passed")
    assert score("Answer: C", t) == (False, "expected B got C")
    assert score("no idea", t) == (False, "unparseable")
    assert score("", t) == (False, "unparseable")


@pytest.mark.parametrize(
    ("subtask", "gold", "output", "result"),
    [
        ("multistep_arithmetic_two", "24", "Answer: 24", (True, "passed")),
        ("multistep_arithmetic_two", "24", "Answer: 24.0", (True, "passed")),
        ("multistep_arithmetic_two", "-11520", "Answer: -11,520.", (True, "passed")),
        (
            "multistep_arithmetic_two",
            "24",
            "... = 3 * 8 = 24\nAnswer: 3 * 8 = 24",
            (True, "passed"),
        ),
        ("multistep_arithmetic_two", "24", "Answer: 25", (False, "expected 24 got 25")),
        ("object_counting", "8", "Counting...\n8", (True, "passed")),
        ("object_counting", "8", "The answer is straightforward.", (False, "unparseable")),
        ("dyck_languages", "] ]", "Answer: ]]", (True, "passed")),
        ("dyck_languages", "] ] >", "Answer: ] ]  >", (True, "passed")),
        ("dyck_languages", "] ]", "Answer: ) ]", (False, "expected ] ] got ) ]")),
        ("word_sorting", "ant bee cat", "Answer: Ant, bee, Cat.", (True, "passed")),
        (
            "word_sorting",
            "ant bee cat",
            "Answer: bee ant cat",
            (False, "expected ant bee cat got bee ant cat"),
        ),
        ("word_sorting", "ant bee cat", "ant bee cat", (False, "unparseable")),
    ],
)
def test_free_form(subtask, gold, output, result):
    assert score(output, free(subtask, gold)) == result


def test_score_accepts_payload_dicts():
    t = mc()
    d = json.loads(json.dumps(t.payload()))
    assert Task.from_payload(d) == t
    assert score("Answer: B", d) == (True, "passed")
    assert extract_answer("Answer: D", d) == "D"


# --------------------------------------------------------------------------- prompts


def test_choice_prompt_format_and_determinism():
    t = yes_no()
    assert t.prompt == yes_no().prompt
    assert t.question == "Do you return?"
    assert CHOICE_RE.findall(t.prompt) == [("A", "Yes"), ("B", "No")]
    assert t.prompt.startswith("Do you return?\n\nOptions:\n(A) Yes\n(B) No\n\n")
    assert "Answer: X" in t.prompt.splitlines()[-1]


def test_free_form_prompt():
    t = free("object_counting", "8")
    assert t.choices == () and t.answer == "8"
    assert t.prompt.startswith("Q?\n\n") and "Answer: <answer>" in t.prompt
    assert not CHOICE_RE.search(t.prompt)


# --------------------------------------------------------------------------- loading


def hf_rows():
    """A tiny stand-in for the hub copy, with the hub's columns."""
    import datasets

    return datasets.Dataset.from_dict(
        {
            "question": ["Q0", "Q1 with table\nOptions:\n(A) x\n(B) y", "Q2"],
            "choices": [
                {"label": ["(A)", "(B)", "(C)"], "text": ["red", "green", "blue"]},
                {"label": [], "text": []},
                {"label": [], "text": ["Yes", "No"]},
            ],
            "target": ["(C)", "(B)", "Yes"],
        }
    )


def test_hf_rows_become_tasks_through_load_tasks(monkeypatch):
    calls = []

    def fake_hub(subtask):
        calls.append(subtask)
        return hf_rows()

    monkeypatch.setattr(bbh, "_hub_dataset", fake_hub)
    monkeypatch.setattr(bbh, "_hub_reachable", lambda subtask: None)  # as if cached
    tasks = load_tasks(["date_understanding"], 5, start=0)
    assert calls == ["date_understanding"]
    assert [t.task_id for t in tasks] == [f"bbh/date_understanding/{i}" for i in range(3)]
    t0, t1, t2 = tasks
    assert t0.choices == (("A", "red"), ("B", "green"), ("C", "blue")) and t0.answer == "C"
    assert t1.question == "Q1 with table" and t1.choices == (("A", "x"), ("B", "y"))
    assert t2.choices == (("A", "Yes"), ("B", "No")) and t2.answer == "A"
    assert [t.index for t in load_tasks(["date_understanding"], 1, start=2)] == [2]


def test_hf_free_form_row():
    t = bbh.task_from_hf_row(
        "dyck_languages",
        4,
        {"question": "[ [", "choices": {"label": [], "text": []}, "target": "] ]"},
    )
    assert t.choices == () and t.answer == "] ]" and t.task_id == "bbh/dyck_languages/4"


def test_hub_offline_is_one_clear_line(monkeypatch):
    import datasets.config
    import huggingface_hub.constants

    # datasets names its offline flag HF_HUB_OFFLINE since 2.20, HF_DATASETS_OFFLINE before.
    for flag in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setattr(datasets.config, flag, True, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(SweepqError) as e:
        load_tasks(["navigate"], 1)
    msg = str(e.value)
    assert "\n" not in msg and "pass `dataset` PATH" in msg and "go online" in msg


def test_local_slicing_and_indices(tmp_path):
    write_bbh(tmp_path, "web_of_lies", [{"input": f"Q{i}?", "target": "Yes"} for i in range(5)])
    write_bbh(
        tmp_path, "object_counting", [{"input": f"C{i}?", "target": str(i)} for i in range(3)]
    )
    tasks = load_tasks(["web_of_lies", "object_counting"], 2, start=1, dataset=str(tmp_path))
    assert [t.task_id for t in tasks] == [
        "bbh/web_of_lies/1",
        "bbh/web_of_lies/2",
        "bbh/object_counting/1",
        "bbh/object_counting/2",
    ]
    assert tasks[0].question == "Q1?" and tasks[2].answer == "1"
    short = load_tasks(["object_counting"], 10, start=1, dataset=str(tmp_path))
    assert [t.index for t in short] == [1, 2]


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"subtasks": ["nope"]}, "unknown BBH subtask 'nope'"),
        ({"subtasks": []}, "no subtasks given"),
        ({"n_per_subtask": 0}, "n_per_subtask must be at least 1"),
        ({"start": -1}, "start must be 0 or more"),
        ({"start": 3}, "start 3 is beyond web_of_lies's 3 examples"),
        ({"subtasks": ["navigate"]}, r"navigate\.json not found"),
        ({"dataset": "/nonexistent/bbh"}, "dataset directory /nonexistent/bbh does not exist"),
        ({"subtasks": ["snarks"]}, r"cannot read .*snarks\.json"),
    ],
)
def test_load_errors_are_one_line_sweepq_errors(tmp_path, kwargs, pattern):
    write_bbh(tmp_path, "web_of_lies", [{"input": "Q?", "target": "No"}] * 3)
    (tmp_path / "snarks.json").write_text("{not json")
    args = {"subtasks": ["web_of_lies"], "n_per_subtask": 1, "start": 0, "dataset": str(tmp_path)}
    args.update(kwargs)
    with pytest.raises(SweepqError, match=pattern) as e:
        load_tasks(**args)
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def all_tasks() -> list[Task]:
    """The first examples of every subtask as upstream wrote them (tests/data/bbh)."""
    return load_tasks(SUBTASKS, 10_000, dataset=str(BBH_DIR))


def assert_gold_scores(tasks: list[Task], truncated: str) -> None:
    """Every task parses into its options and its gold answer scores; `truncated` is
    upstream snarks/88, whose options stop after one: it loads as it is."""
    assert {t.subtask for t in tasks} == set(SUBTASKS)
    for t in tasks:
        if t.subtask in FREE_FORM:
            assert t.choices == ()
        else:
            labels = [lab for lab, _ in t.choices]
            assert t.answer in labels
            assert len(labels) >= 2 or t.task_id == truncated
            assert CHOICE_RE.findall(t.prompt) == list(t.choices)
        assert score(f"Reasoning...\nAnswer: {t.answer}", t) == (True, "passed"), t.task_id


def test_all_subtasks_load_and_gold_scores(all_tasks):
    assert len(all_tasks) == 4 * len(SUBTASKS) + 1
    assert_gold_scores(all_tasks, truncated="bbh/snarks/4")
    assert [t.task_id for t in all_tasks if len(t.choices) == 1] == ["bbh/snarks/4"]


@pytest.mark.slow   # 6,511 tasks; the fast suite checks every subtask's first examples
def test_the_full_data_set_loads_and_gold_scores():
    tasks = load_tasks(SUBTASKS, 10_000, dataset=str(shared("bbh")))
    assert len(tasks) == 6511
    assert_gold_scores(tasks, truncated="bbh/snarks/88")


def test_real_wrong_label_gives_expected(all_tasks):
    for t in all_tasks:
        if len(t.choices) > 1:
            wrong = next(lab for lab, _ in t.choices if lab != t.answer)
            assert score(f"Answer: {wrong}", t) == (False, f"expected {t.answer} got {wrong}")


def test_real_task_payload_round_trip(all_tasks):
    for t in all_tasks[::97]:
        assert Task.from_payload(json.loads(json.dumps(t.payload()))) == t


# --------------------------------------------------------------------------- properties

texts = st.text(alphabet="ABCDEFabcdef0123 ", min_size=1, max_size=8).filter(lambda s: s.strip())


@st.composite
def choice_tasks(draw) -> Task:
    opts = draw(st.lists(texts, min_size=2, max_size=7, unique_by=fold))
    gold = draw(st.integers(0, len(opts) - 1))
    choices = [(chr(65 + i), o) for i, o in enumerate(opts)]
    return make_task("logical_deduction_seven_objects", 0, "Q", f"({chr(65 + gold)})", choices)


@settings(max_examples=examples(150), deadline=None)
@given(task=choice_tasks(), data=st.data())
def test_prop_declared_label_passes_iff_gold(task, data):
    label = data.draw(st.sampled_from([lab for lab, _ in task.choices]))
    passed, detail = score(f"reasoning...\nAnswer: {label}", task)
    assert passed == (label == task.answer)
    assert detail == ("passed" if passed else f"expected {task.answer} got {label}")


PHRASES = ["Answer: {}", "the answer is ({}).", "correct choice is ({})", "**Answer: {}**"]


@settings(max_examples=examples(100), deadline=None)
@given(
    decls=st.lists(
        st.tuples(st.sampled_from("ABCD"), st.sampled_from(PHRASES)), min_size=1, max_size=5
    ),
    filler=st.text(alphabet="abcdefg ()\n", max_size=40),
)
def test_prop_last_declaration_wins(decls, filler):
    out = f"\n{filler}\n".join(p.format(lab) for lab, p in decls) + "\n" + filler
    assert extract_answer(out, mc()) == decls[-1][0]
