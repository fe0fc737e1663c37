"""The two built-in scorers.

`echo`: every case of the old runner's scoring tests (enspyrco/echo,
`experiment/tests/test_bbh_scoring.py` on `feat/bbh-resilient-resume`) gives the runner's
verdict; the cases are written here as facts, replies and verdicts. `sweepq`: the
phrasings models use that it used to miss, its old bugs fixed, and a property test: over
generated replies in many phrasings, it never reads an answer the reply does not declare.
"""

from __future__ import annotations

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from sweepq import score_echo, scorers
from sweepq.bbh import make_task, task_from_hf_row
from sweepq.bbh_answers import extract_answer, score
from sweepq.errors import SweepqError


def letters_task(gold: str = "C", n: int = 6):
    return make_task("date_understanding", 0, "Which?", gold,
                     [(chr(65 + i), f"opt {chr(97 + i)}") for i in range(n)])


def bare_task(gold: str):
    """The runner tests' `{"gold": …}` task: no choice list, so every letter is a label."""
    return make_task("object_counting", 0, "Q?", "1").__class__(
        task_id="bbh/test/0", subtask="test", index=0, question="dummy", choices=(),
        target=gold, answer=gold, prompt="dummy")


def causal_no():
    """The runner's `_row_to_task("causal_judgement", 0, {question, target: "No"})`: its
    synthetic choices Yes/No labelled A/B, gold B."""
    return make_task("causal_judgement", 0, "Did X cause Y?", "No", [("A", "Yes"), ("B", "No")])


# -- echo: the runner's own test cases --------------------------------------------------

RUNNER_LETTERS = [
    ("Reasoning here.\nAnswer: C", "C"),
    ("Answer: (B)", "B"),
    ("Therefore (A) is correct.", "A"),
    ("A", "A"),                               # normalize_gold("A"): the same extraction
    ("I have no idea", None),
    ("Step by step...\nThe best option is D", "D"),
    ("I considered (A) and then (B). Therefore the answer is C.", "C"),
    ("Option (A) is tempting, but the correct answer is (C).", "C"),
    ("I considered (A), then (B), then (C).", None),
    ("The answer is C.\n\nl1\nl2\nl3\nl4\nl5\nl6", "C"),
    ("Answer: C\nthanks\nbye\n.\n-\n=", "C"),
    ("After analysis, the answer is straightforward.", None),
    ("The answer is dependent on the framing.", None),
    ("So the final answer is best understood as follows.", None),
]


@pytest.mark.parametrize(("reply", "letter"), RUNNER_LETTERS)
def test_echo_reads_the_letter_the_runner_read(reply: str, letter: str | None) -> None:
    assert score_echo.letter(reply) == letter


@pytest.mark.parametrize(("reply", "gold", "verdict"), [
    ("Answer: C", "C", (True, "passed")),
    ("Answer: A", "C", (False, "expected C got A")),
    ("maybe yes", "C", (False, "unparseable")),
])
def test_echo_verdicts_of_the_runner_score_tests(reply: str, gold: str, verdict) -> None:
    assert score_echo.score(reply, bare_task(gold)) == verdict


@pytest.mark.parametrize("reply", ["Reasoning...\nAnswer: No", "Answer: B"])
def test_echo_binary_text_and_letter_against_synthetic_choices(reply: str) -> None:
    assert score_echo.score(reply, causal_no()) == (True, "passed")


def test_gold_resolution_matches_the_runners_regressions() -> None:
    # text choices without labels fall back to positional letters: "No" is B
    row = {"question": "Q", "choices": {"text": ["Yes", "No"]}, "target": "No"}
    assert task_from_hf_row("navigate", 0, row).answer == "B"
    # a single-letter target keeps its own label, whatever another choice's text says
    decoy = make_task("date_understanding", 0, "Q", "A", [("A", "apple"), ("B", "A"),
                                                           ("C", "cat")])
    assert decoy.answer == "A"


@pytest.mark.parametrize(("reply", "echo_reads"), [
    ("Honestly, the answer is a bit unclear", "A"),            # the hedge read as A
    ("Reasoning.\n**B**", None),                              # bold missed
    ("Answer: True\nActually, the answer is False", "A"),      # form order beats position
])
def test_echo_keeps_the_runners_quirks(reply: str, echo_reads: str | None) -> None:
    task = make_task("boolean_expressions", 0, "not ( True ) is", "False",
                     [("A", "True"), ("B", "False")])
    got = score_echo.score(reply, task)
    assert got == ((False, "unparseable") if echo_reads is None else
                   (echo_reads == "B", "passed" if echo_reads == "B"
                    else f"expected B got {echo_reads}"))


# -- sweepq: the listed cases -----------------------------------------------------------

@pytest.mark.parametrize(("reply", "answer"), [
    ("Answer: b", "B"),
    ("It must be\n(a)", "A"),
    ("Therefore (A) is correct.", "A"),
    ("Option C is correct", "C"),
    ("Answer - E", "E"),
    ("Answer \u2013 E", "E"),
    ("So $\\boxed{A}$", "A"),
    ("\\boxed{(F)}", "F"),
    ("$$\\boxed{\\text{D}}$$", "D"),
    ("The final answer is \\(\\boxed{c}\\).", "C"),
    ("Reasoning.\n**B**", "B"),
    ("The answer is: (A)", "A"),
    ('The answer is "D".', "D"),
    ("Answer: A\nWait.\nActually, the answer is B", "B"),
    ("Honestly, the answer is a bit unclear", None),
    ("I am not sure whether (A) is correct", None),
    ("the answer is a", None),
])
def test_sweepq_reads_what_models_write(reply: str, answer: str | None) -> None:
    assert extract_answer(reply, letters_task()) == answer


def test_sweepq_binary_text_last_declaration_wins() -> None:
    task = make_task("boolean_expressions", 0, "not ( True ) is", "False",
                     [("A", "True"), ("B", "False")])
    assert score("Answer: True\nActually, the answer is False", task) == (True, "passed")


@pytest.mark.parametrize(("reply", "verdict"), [
    ("Answer: costume counterpart oven", (True, "passed")),
    ("\\boxed{costume counterpart oven}", (True, "passed")),
    ("Sorted, the answer is straightforward.", (False, "unparseable")),
    # the few-shot CoT protocol's closing sentence (issue 22): a declaration here too
    ("So the answer is costume counterpart oven", (True, "passed")),
    ("So, the answer is costume counterpart oven", (False, "unparseable")),
    ("Answer: this is easy", (False, "unparseable")),
    ("Answer: oven costume", (False, "expected costume counterpart oven got oven costume")),
])
def test_word_sorting_only_from_a_declared_list(reply: str, verdict) -> None:
    task = make_task("word_sorting", 0, "Sort the following words alphabetically: "
                     "List: oven costume counterpart", "costume counterpart oven")
    assert score(reply, task) == verdict


def test_registry_knows_both_and_refuses_others() -> None:
    assert scorers.get("sweepq") is score and scorers.get("echo") is score_echo.score
    with pytest.raises(SweepqError, match="unknown scorer 'x'.*sweepq.scorers"):
        scorers.get("x")


def test_a_scorer_that_raises_is_a_failed_verdict() -> None:
    def broken(output, task):
        raise KeyError("gold")

    assert scorers.run(broken, "Answer: A", letters_task()) == (False, "scorer KeyError: 'gold'")


# -- sweepq: never an answer the reply does not declare ---------------------------------

# Reasoning that names options and says "the answer is" without declaring anything.
DISTRACTORS = [
    "Option (B) looks tempting at first.", "I considered (A), then (D).",
    "Honestly, the answer is a bit unclear.", "The answer is not obvious yet.",
    "Let me check (C) again.", "It is not (E), since that contradicts the premise.",
    "I am not sure whether (A) is correct.", "Maybe B? Let me think more.",
    "The answer depends on the order.", "First, list the facts.",
]
LETTER_FORMS = [
    "Answer: {x}", "Answer: ({x})", "answer: {lx}", "The answer is {x}.", "The answer is ({x}).",
    "Final answer: {x}", "**Answer: {x}**", "The correct answer is ({x}).", "$\\boxed{{{x}}}$",
    "\\boxed{{({x})}}", "Answer - {x}", "Option {x} is correct.", "Therefore ({x}) is correct.",
    "So the best option is: {x}", "({lx})",
]
TEXT_FORMS = [
    "Answer: {t}", "answer: {lt}", "The answer is {t}.", "Final answer: {t}", "**Answer: {t}**",
    "The correct answer is {t}.", "\\boxed{{{t}}}", "$\\boxed{{\\text{{{t}}}}}$",
    "Answer - {t}", "So the final answer is: {t}", "Answer:\n{t}",
]
NUMBER_FORMS = [
    "Answer: {n}", "The answer is {n}.", "Final answer: {n}", "**Answer: {n}**",
    "\\boxed{{{n}}}", "$\\boxed{{{n}}}$", "Answer - {n}", "The final answer is: {n}",
    "So the answer is {n}", "Answer:\n{n}", "The correct answer would be {n}.",
]
WORD_FORMS = [
    "Answer: {w}", "answer: {w}", "Final answer: {w}", "**Answer: {w}**", "\\boxed{{{w}}}",
    "$\\boxed{{{w}}}$", "Answer - {w}", "Final answer:\n{w}", "The final answer: {w}",
    "Answer: {cw}", "Answer: \"{w}\"",
]
WORDS = ["apple", "banana", "cherry", "damson", "elder"]


def _reply(draw: st.DrawFn, line: str) -> str:
    before = draw(st.lists(st.sampled_from(DISTRACTORS), max_size=3))
    after = draw(st.lists(st.sampled_from(DISTRACTORS[:2]), max_size=1))
    return "\n".join([*before, line, *after]) if draw(st.booleans()) and after else \
        "\n".join([*before, line])


@st.composite
def letter_replies(draw: st.DrawFn):
    x = draw(st.sampled_from("ABCDEF"))
    line = draw(st.sampled_from(LETTER_FORMS)).format(x=x, lx=x.lower())
    return _reply(draw, line), x


@given(letter_replies())
@settings(max_examples=examples(300), deadline=None)
def test_property_letters(case) -> None:
    reply, x = case
    assert extract_answer(reply, letters_task()) == x


@st.composite
def text_replies(draw: st.DrawFn):
    t = draw(st.sampled_from(["Yes", "No"]))
    line = draw(st.sampled_from(TEXT_FORMS)).format(t=t, lt=t.lower())
    return _reply(draw, line), {"Yes": "A", "No": "B"}[t]


@given(text_replies())
@settings(max_examples=examples(200), deadline=None)
def test_property_choice_texts(case) -> None:
    reply, label = case
    task = make_task("web_of_lies", 0, "Does Sal tell the truth?", "Yes")
    assert extract_answer(reply, task) == label


@given(st.integers(-500, 500), st.sampled_from(NUMBER_FORMS), st.data())
@settings(max_examples=examples(200), deadline=None)
def test_property_numbers(n: int, form: str, data) -> None:
    reply = _reply(data.draw, form.format(n=n))
    task = make_task("multistep_arithmetic_two", 0, "((1 + 2) * 3) =", "9")
    assert extract_answer(reply, task) == str(n)


@given(st.permutations(WORDS), st.sampled_from(WORD_FORMS), st.data())
@settings(max_examples=examples(200), deadline=None)
def test_property_word_lists(words: list[str], form: str, data) -> None:
    reply = _reply(data.draw, form.format(w=" ".join(words), cw=", ".join(words)))
    task = make_task("word_sorting", 0, "Sort the following words alphabetically: List: "
                     + " ".join(WORDS), " ".join(WORDS))
    assert extract_answer(reply, task) == " ".join(words)


@given(st.lists(st.sampled_from(DISTRACTORS), min_size=1, max_size=6))
@settings(max_examples=examples(200), deadline=None)
def test_property_no_declaration_no_answer(lines: list[str]) -> None:
    reply = "\n".join(lines)
    assert extract_answer(reply, letters_task()) is None
    words = make_task("word_sorting", 0, "Sort the following words alphabetically: List: "
                      + " ".join(WORDS), " ".join(WORDS))
    assert extract_answer(reply, words) is None


def test_echo_oracle_judges_right_by_the_sweeps_scorer() -> None:
    """The oracle's ceiling uses the verdict rules of the sweep: a `**A**` reply is right
    for sweepq and unparseable for echo, so only the echo-scored oracle escalates."""
    from sweepq import arm_registry
    from sweepq.prompts import default_set

    class Client:
        def __init__(self) -> None:
            self.models: list[str] = []

        def call(self, model, prompt, *, system=None, max_tokens=None):
            self.models.append(model)
            return "Answer: Z" if model == "sonnet" else "**A**"

        def call_many(self, requests, max_tokens=None):
            return [self.call(m, p, system=s) for m, p, s in requests]

    task = letters_task("A")
    for scorer, models in ((score, ["haiku", "haiku"]),
                           (score_echo.score, ["haiku", "haiku", "sonnet"])):
        client = Client()
        bound = arm_registry.for_sweep(["echo-oracle"], {"default": default_set()},
                               scorer=scorer)["echo-oracle"]
        bound(task, client)
        assert client.models == models
