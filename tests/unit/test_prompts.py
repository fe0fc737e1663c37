"""Prompt sets: the default reproduces the old requests byte for byte; files are validated.

The golden file was captured from the code before prompt sets existed
(`tests/prompt_capture.py`), so the default set cannot have drifted from it.
"""

from __future__ import annotations

import json
import tomllib

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from prompt_capture import GOLDEN, capture, requests_of

from sweepq import arm_registry, arms, bbh, prompts
from sweepq.errors import SweepqError
from sweepq.prompts_toml import render
from sweepq.task import Task


def _golden() -> dict:
    return json.loads(GOLDEN.read_text())


# Arms newer than the golden file, by the arm whose requests they send on its BBH tasks
# (echo-ast, on a task without code, is echo-lexical).
AS_GOLDEN = {"echo-ast": "echo-lexical"}


def test_the_default_set_sends_exactly_what_sweepq_sent_before():
    """Every built-in arm, bound to the default set as a sweep stores it (its TOML text,
    parsed back), on every golden task, agreeing and disagreeing."""
    golden = _golden()
    stored = prompts.parse(prompts.default_set().text, "stored")
    bound = arm_registry.for_sweep(list(arms.BUILTIN), {"default": stored})
    for payload in golden["tasks"]:
        task = Task.from_payload(payload)
        for name, arm in bound.items():
            got = capture(arm, task)
            want = golden["requests"][AS_GOLDEN.get(name, name)][task.task_id]
            for mode in want:
                assert got[mode] == want[mode], (name, task.task_id, mode,
                                                 requests_of(arm, task, mode))


def test_tasks_built_now_carry_the_old_prompt_and_unbound_arms_send_the_old_requests():
    golden = _golden()
    for payload in golden["tasks"]:
        rebuilt = bbh.make_task(payload["subtask"], payload["index"], payload["question"],
                                payload["target"], [tuple(c) for c in payload["choices"]])
        assert rebuilt.prompt == payload["prompt"]
        task = Task.from_payload(payload)
        for name, arm in arms.BUILTIN.items():
            assert capture(arm, task) == \
                golden["requests"][AS_GOLDEN.get(name, name)][task.task_id], name


def test_the_default_set_round_trips_through_its_toml():
    default = prompts.default_set()
    assert tomllib.loads(default.text) == default.data
    assert prompts.parse(default.text, "x").sha256 == default.sha256
    assert "multiple_choice" in default.text and "# " in default.text


@settings(max_examples=examples(200), deadline=None)
@given(st.text())
def test_any_text_survives_the_toml_writer(text):
    data = {"schema": 1, "t": {"v": text, "w": text + "\n", "n": {"k": text}}}
    assert tomllib.loads(render(data)) == data


def _edited(**changes: str) -> str:
    """The default set's TOML with fields ("section.key") replaced."""
    data = json.loads(json.dumps(prompts.default_set().data))
    for path, value in changes.items():
        section, key = path.split(".", 1)
        data[section][key] = value
    return render(data)


@pytest.mark.parametrize(("field", "value", "says"), [
    ("task.multiple_choice", "{question}\nPick one.", "task.multiple_choice: missing "
                                                      "placeholder {options}"),
    ("task.option", "({label}) {txt}", "task.option: unknown placeholder {txt}"),
    ("task.free_form", "{question} {hint!r} done", "task.free_form: placeholder {hint}"),
    ("judge.question", "   ", "judge.question: renders empty"),
    ("task.free_form", "{question}", "task.free_form: renders empty"),
    ("personas.a", "", "personas.a: is empty"),
    ("judge.agreement", "regex:(unclosed", "judge.agreement: the regular expression"),
    ("judge.agreement", "startswith YES", "judge.agreement: must be"),
    ("judge.agreement", "prefix:AGREE", "judge.agreement: the agreeing verdict 'YES'"),
    ("judge.question", "{question} {a} {b} {", "judge.question: not a template"),
])
def test_a_bad_set_is_refused_naming_the_field(field, value, says):
    with pytest.raises(SweepqError) as err:
        prompts.parse(_edited(**{field: value}), "my.toml")
    assert str(err.value).startswith("prompt set my.toml: " + says), str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_and_missing_fields_and_bad_toml_are_refused():
    text = prompts.default_set().text
    with pytest.raises(SweepqError, match=r"^prompt set f: judge.verdict: unknown field"):
        prompts.parse(text.replace('agree = "YES"', 'verdict = "YES"\nagree = "YES"'), "f")
    with pytest.raises(SweepqError, match=r"^prompt set f: personas.b: the field is missing"):
        prompts.parse(text.replace("\nb = ", "\n# b = "), "f")
    with pytest.raises(SweepqError, match=r"^prompt set f: not valid TOML"):
        prompts.parse(text + "\n[judge\n", "f")
    with pytest.raises(SweepqError, match=r"^prompt set f: max_tokens.judge: must be a whole"):
        prompts.parse(text.replace("judge = 16", "judge = 0"), "f")


def test_agreement_rules():
    def judge(rule: str, agree: str = "YES", disagree: str = "NO") -> prompts.PromptSet:
        return prompts.parse(_edited(**{"judge.agreement": rule, "judge.agree": agree,
                                        "judge.disagree": disagree}), "f")

    strict, loose = judge("prefix:YES"), judge("prefix-nocase:yes")
    assert strict.agrees("  YES.") and not strict.agrees("Yes") and not strict.agrees("NO")
    assert loose.agrees("Yes, both") and not loose.agrees("No")
    pattern = judge(r"regex:(?:SAME|AGREE)\b", agree="SAME", disagree="DIFFERENT")
    assert pattern.agrees(" AGREE") and not pattern.agrees("SAMENESS")


def test_arm_names_with_a_set():
    default = prompts.default_set()
    assert arm_registry.split_name("haiku-only@terse") == ("haiku-only", "terse")
    assert arm_registry.split_name("haiku-only") == ("haiku-only", "default")
    with pytest.raises(SweepqError, match="uses prompt set 'terse', which the sweep"):
        arm_registry.for_sweep(["haiku-only@terse"], {"default": default})
    with pytest.raises(SweepqError, match="unknown arm nope@terse"):
        arm_registry.validate(["nope@terse"])
    with pytest.raises(SweepqError, match="is not a prompt set name"):
        arm_registry.validate(["haiku-only@Bad Name"])
