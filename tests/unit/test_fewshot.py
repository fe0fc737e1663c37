"""Few-shot prompt sets (issue 22 item 1): exemplars read from the upstream CoT files into
the stored set, placed in the system text; the shipped BBH 3-shot and zero-shot sets; the
CoT's "So the answer is" read by the sweep's scorer."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pytest

from sweepq import prompts
from sweepq.bbh import task_from_upstream_row
from sweepq.bbh_answers import score
from sweepq.errors import SweepqError
from sweepq.fewshot import strip_header

BBH_COT = importlib.resources.files("sweepq").joinpath("prompt_sets", "bbh-cot")


def _set_with(tmp_path: Path, fewshot: str) -> Path:
    text = prompts.builtin("bbh-zeroshot").text + "\n[fewshot]\n" + fewshot
    path = tmp_path / "sets" / "mine.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_the_shipped_3_shot_set_holds_every_subtask_without_the_canary():
    ps = prompts.builtin("bbh-cot")
    exemplars = ps.data["fewshot"]["exemplars"]
    assert len(exemplars) == 27
    assert all("canary" not in text and text.count("\nA: Let's think step by step.") == 3
               for text in exemplars.values())
    assert exemplars["date_understanding"].startswith("Infer the date from context.")
    assert BBH_COT.joinpath("LICENSE").read_text().startswith("MIT License")


def test_exemplars_follow_the_persona_in_the_system_text_of_their_subtask_only():
    cot, zero = prompts.builtin("bbh-cot"), prompts.builtin("bbh-zeroshot")
    system = cot.system(cot.persona_a, "navigate")
    assert system.startswith(cot.persona_a + "\n\n")
    assert system.endswith(cot.data["fewshot"]["exemplars"]["navigate"])
    assert cot.system(cot.persona_a, "no_such_subtask") == cot.persona_a
    assert zero.system(zero.persona_a, "navigate") == zero.persona_a
    assert cot.task_prompt("navigate", "Q?", []) == zero.task_prompt("navigate", "Q?", [])


def test_a_set_stores_the_content_of_its_exemplar_folder_and_the_digest_covers_it(tmp_path):
    folder = tmp_path / "sets" / "ex"
    folder.mkdir(parents=True)
    (folder / "navigate.txt").write_text("canary GUID x\n-----\nNavigate.\n\nQ: a\nA: b")
    path = _set_with(tmp_path, 'from = "ex"\n')
    ps = prompts.read_file(str(path))
    assert ps.data["fewshot"]["exemplars"] == {"navigate": "Navigate.\n\nQ: a\nA: b"}
    assert "Navigate.\n\nQ: a\nA: b" in ps.text          # the stored TOML holds the text
    (folder / "navigate.txt").write_text("changed")     # never read again from the file
    stored = prompts.parse(ps.text, "stored")
    assert stored.sha256 == ps.sha256 and stored.data == ps.data
    other = prompts.read_file(str(path))
    assert other.sha256 != ps.sha256                    # new content, new digest


def test_a_missing_exemplar_folder_is_one_line_naming_the_field(tmp_path):
    path = _set_with(tmp_path, 'from = "nowhere"\n')
    with pytest.raises(SweepqError, match=r"mine.toml: fewshot.from: no such file or folder"):
        prompts.read_file(str(path))


def test_an_unknown_placement_is_refused(tmp_path):
    path = _set_with(tmp_path, 'placement = "sideways"\n[fewshot.exemplars]\nnavigate = "x"\n')
    with pytest.raises(SweepqError, match="fewshot.placement: 'sideways'"):
        prompts.read_file(str(path))


def test_strip_header_keeps_a_file_without_a_canary_whole():
    assert strip_header("Q: a\nA: b\n") == "Q: a\nA: b"
    assert strip_header("BIG canary GUID 1\n-----\nTask.\n\nQ: a") == "Task.\n\nQ: a"


@pytest.mark.parametrize(("subtask", "row", "reply", "verdict"), [
    ("date_understanding", {"input": "When?\nOptions:\n(A) x\n(B) y", "target": "(B)"},
     "Today is x. So the answer is (B).", (True, "passed")),
    ("word_sorting", {"input": "Sort the following words alphabetically: List: pear apple",
                      "target": "apple pear"},
     'We compare "a" < "p". So the answer is apple pear.', (True, "passed")),
    ("multistep_arithmetic_two", {"input": "((1 + 2) * 3) =", "target": "9"},
     "1 + 2 = 3, times 3. So the answer is 8.", (False, "expected 9 got 8")),
])
def test_the_scorer_reads_the_cot_closing_sentence(subtask, row, reply, verdict):
    assert score(reply, task_from_upstream_row(subtask, 0, row)) == verdict
