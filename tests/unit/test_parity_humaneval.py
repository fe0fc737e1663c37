"""Parity with the old runner on code tasks: a HumanEval sweep asks, extracts and scores as
the team's runner did (enspyrco/echo, `experiment/run_pilot.py`, which wrote its HumanEval
result files; `experiment/chat_claude_code.py` its CLI wrapper).

The runner's side is built here from facts written out (its strings, as it sent them),
not from its code:
- the system text: persona A (haiku-only, sonnet-only, escalations, the first cheap call)
  or persona B (the second cheap call), below; both ask for bare code, no `Answer:` line;
- the user text: `Implement the following function:`, a blank line, the problem's stub as
  shipped (signature and docstring, its final newline kept);
- through the Claude CLI: one prompt, `[SYSTEM]\\n<system>` and `[HUMAN]\\n<user>` joined
  by a blank line, as the CLI's argument;
- echo-judge: after the two cheap calls, haiku is asked with the system text JUDGE_SYSTEM
  and `Problem:`, the stub, then each candidate's code under `--- Candidate A ---` and
  `--- Candidate B ---`, then the question (JUDGE_QUESTION), blank lines between; a
  candidate's code is its reply stripped of fences (`runner_code`). A verdict that,
  stripped and upper-cased, starts with `YES` keeps persona A's reply; any other
  escalates to sonnet with persona A and the task prompt;
- the reply's code: the first ```` ```python ```` (or bare ```` ``` ````) block, dedented;
  else the whole reply dedented, or the inside of one `inline` span; a reply with a
  top-level `def` is the program, else it is the stub's body (a bare expression becomes
  `return <expr>`); the verdict is `passed`, the last line of the error (its exception
  line) or `timeout (>10s)`.

The default set (API: the persona as the system prompt) and the `echo-parity` set (CLI:
the runner's channel) both send these texts for HumanEval; no BBH or MMLU-Pro prompt and
no set's digest changes (tests/unit/test_prompts.py holds the default set's).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from sweepq.bbh import Task
from sweepq.benchmarks import standard
from sweepq.sample import HUMANEVAL_PROBLEMS, write_humaneval

PERSONA_A = ("You are a careful, methodical programmer. You value correctness over\n"
             "cleverness. You think through edge cases before writing code. When you\n"
             "return code, you return only the code \u2014 no commentary, no markdown\n"
             "fences, no explanation. Just the implementation.")
PERSONA_B = ("You are a pragmatic senior engineer. You write the simplest code that\n"
             "correctly solves the problem. You don't over-engineer. When you return\n"
             "code, you return only the code \u2014 no commentary, no markdown fences,\n"
             "no explanation. Just the implementation.")
JUDGE_SYSTEM = ("You compare two candidate Python implementations of a problem. "
                "Reply ONLY with the single word YES or NO. Nothing else.")
JUDGE_QUESTION = ("Do A and B implement the same algorithm and produce the same outputs "
                  "on all valid inputs? Answer YES or NO.")
ARMS = ("haiku-only", "sonnet-only", "echo-ast", "echo-judge")
N = 3


def runner_user(stub: str) -> str:
    return f"Implement the following function:\n\n{stub}"


def runner_code(reply: str) -> str:
    """The code the runner showed its judge: the first ```python or bare ``` block
    (newline right after the fence), dedented and stripped; else the reply dedented and
    stripped, or, when that is one `inline` span, its inside stripped."""
    import re
    import textwrap

    fence = re.search(r"```(?:python)?\n(.*?)```", reply, re.S)
    if fence:
        return textwrap.dedent(fence[1]).strip()
    plain = textwrap.dedent(reply).strip()
    inline = re.fullmatch(r"`([^`\n]+)`", plain)
    return inline[1].strip() if inline else plain


def runner_judge(stub: str, a: str, b: str) -> str:
    return (f"Problem:\n{stub}\n\n--- Candidate A ---\n{runner_code(a)}\n\n"
            f"--- Candidate B ---\n{runner_code(b)}\n\n{JUDGE_QUESTION}")


def runner_calls(arm: str, stub: str) -> list[tuple[str, str, str]]:
    """(model alias, system, user) of each call the runner made, the longest path (the
    replies are `requests`' placeholders, `<reply to call N>`, so the judge never agrees)."""
    user = runner_user(stub)
    if arm == "haiku-only":
        return [("haiku", PERSONA_A, user)]
    if arm == "sonnet-only":
        return [("sonnet", PERSONA_A, user)]
    judge = [("haiku", JUDGE_SYSTEM,
              runner_judge(stub, "<reply to call 1>", "<reply to call 2>"))] \
        if arm == "echo-judge" else []
    return [("haiku", PERSONA_A, user), ("haiku", PERSONA_B, user), *judge,
            ("sonnet", PERSONA_A, user)]


def _requests(tmp_path: Path, *prompts: str) -> list[dict]:
    db = tmp_path / "p.db"
    run_cli("enqueue", "--sweep", "he", "--benchmark", "humaneval", "--dataset",
            str(write_humaneval(tmp_path / "he.jsonl")), "--n-per-subtask", str(N),
            "--arms", ",".join(ARMS), "--model", "haiku=haiku", "--model", "sonnet=sonnet",
            *prompts, db=db, check=True)
    return json.loads(run_cli("requests", "--sweep", "he", "--json", db=db,
                              check=True).stdout)


def _stubs() -> dict[str, str]:
    return {f"HumanEval/{i}": stub for i, (_, stub, _, _) in enumerate(HUMANEVAL_PROBLEMS[:N])}


def test_the_default_set_sends_the_runners_texts_for_code(tmp_path: Path) -> None:
    shown = _requests(tmp_path)
    stubs = _stubs()
    assert [(e["task_id"], e["arm"]) for e in shown] == [(t, a) for t in stubs for a in ARMS]
    for entry in shown:
        got = [(c["api"]["model"], c["system"], c["api"]["messages"]) for c in entry["calls"]]
        want = [(model, system, [{"role": "user", "content": user}])
                for model, system, user in runner_calls(entry["arm"], stubs[entry["task_id"]])]
        assert got == want, entry["task_id"] + " " + entry["arm"]
        assert all("Answer:" not in c["system"] + c["api"]["messages"][0]["content"]
                   for c in entry["calls"])


def test_the_parity_set_sends_them_through_the_runners_channel(tmp_path: Path) -> None:
    shown = _requests(tmp_path, "--prompts", "echo-parity")
    stubs = _stubs()
    for entry in shown:
        got = [c["claude_cli"] for c in entry["calls"]]
        want = [{"argv": ["claude", "--print", "--setting-sources", "", "--model", model,
                          f"[SYSTEM]\n{system}\n\n[HUMAN]\n{user}"], "stdin": None}
                for model, system, user in runner_calls(entry["arm"], stubs[entry["task_id"]])]
        assert got == want, entry["task_id"] + " " + entry["arm"]


def test_a_set_of_its_own_for_humaneval_wins(tmp_path: Path) -> None:
    from sweepq.prompts import default_set

    text = default_set().text + (
        '\n[task.subtasks.humaneval]\nfree_form = "Write it:\\n{question}"\n'
        'persona_a = "Code only."\n')
    own = tmp_path / "own.toml"
    own.write_text(text)
    shown = _requests(tmp_path, "--prompts", str(own))
    calls = next(e for e in shown if e["arm"] == "echo-ast")["calls"]
    assert calls[0]["system"] == "Code only." and calls[1]["system"] == PERSONA_B
    assert calls[0]["api"]["messages"][0]["content"] == "Write it:\n" + _stubs()["HumanEval/0"]


ADD = HUMANEVAL_PROBLEMS[0]
# Reply shapes the runner met, each scored as it scored them (the program really runs).
SHAPES = [
    ("```python\n    def add(x, y):\n        return x + y\n```\ntrailing words", "passed"),
    ("```\nimport operator\n\ndef add(x, y):\n    return operator.add(x, y)\n```", "passed"),
    ("    total = x + y\n    return total", "passed"),               # a body, indented
    ("return x + y", "passed"),                                       # a body, flush left
    ("x + y", "passed"),                                              # a bare expression
    ("`x + y`", "passed"),                                            # one inline span
    ("return x - y", "AssertionError"),
    ("def add(x, y):\n    return x +", "SyntaxError: invalid syntax"),
]


@pytest.mark.parametrize(("reply", "detail"), SHAPES)
def test_code_is_extracted_and_scored_as_the_runner_did(reply: str, detail: str) -> None:
    name, stub, body, asserts = ADD
    task = Task(task_id="HumanEval/0", subtask="humaneval", index=0, question=stub,
                choices=(), target=body, answer=body, prompt="",
                extra={"benchmark": "humaneval", "entry_point": name,
                       "test": "\n\ndef check(candidate):\n"
                               + "".join(f"    assert {a}\n" for a in asserts)})
    passed, got = standard.run_code(reply, task)
    assert (passed, got.removesuffix(" (network not isolated on this machine)")) == \
        (detail == "passed", detail)


def test_a_subtask_persona_must_be_text() -> None:
    from sweepq.errors import SweepqError
    from sweepq.prompts import default_set, parse

    with pytest.raises(SweepqError, match=r"task\.subtasks\.humaneval\.persona_b: is empty"):
        parse(default_set().text + '\n[task.subtasks.humaneval]\npersona_b = " "\n', "t")


def test_a_parity_sweep_on_the_fake_runs_the_code(tmp_path: Path) -> None:
    """The runner's framing (persona and prompt in one user message) on the API to the fake
    over HTTP: the fake still sees a code task, and its code runs in the sandbox."""
    from benchmark_helpers import answer_key

    from sweepq.fake import FakeAPI, FakeConfig

    db = tmp_path / "f.db"
    run_cli("enqueue", "--sweep", "he", "--benchmark", "humaneval", "--dataset",
            str(write_humaneval(tmp_path / "he.jsonl")), "--n-per-subtask", "2", "--arms",
            "haiku-only", "--prompts", "echo-parity", db=db, check=True)
    framed = {f"[SYSTEM]\n{PERSONA_A}\n\n[HUMAN]\n{prompt}": gold     # what the fake sees
              for prompt, gold in answer_key(db, "he").items()}
    with FakeAPI(FakeConfig(answer_key=framed)) as fake:
        run_cli("work", "--quiet", db=db, fake=fake, check=True)
    summary = json.loads(run_cli("summary", "--json", db=db, check=True).stdout)
    assert [(a["n"], a["passed"]) for a in summary["arms"]] == [(2, 2)]


@pytest.mark.parametrize(("reply", "detail"), SHAPES)
def test_the_code_judge_is_shown_the_code_the_runner_showed_it(reply: str, detail: str) -> None:
    from sweepq.codeextract import reply_code

    name, stub, _, _ = ADD
    assert reply_code(reply, stub, name) == runner_code(reply)


def test_the_code_judge_agrees_by_the_runners_rule() -> None:
    from sweepq.judges import Judge
    from sweepq.prompts import default_set

    judge = Judge.of(default_set(), "humaneval")
    for verdict in ("YES", "yes.", "  Yes, both", "yES", "NO", "no", "", " Y", "Nope, yes"):
        assert judge.agrees(verdict) == verdict.strip().upper().startswith("YES"), verdict
    # BBH keeps the set's own judge and its upper-case rule
    assert not Judge.of(default_set(), "navigate").agrees("yes")


def test_an_echo_judge_sweep_on_the_fake_agrees_or_escalates(tmp_path: Path) -> None:
    """Over HTTP to the fake: the fake reads the code judge's question and says YES when
    the two candidates' code is the same; an agreed task keeps persona A's reply (3
    calls), any other is sonnet's (4 calls). Each task's way is recomputed from the
    journaled replies, and the verdict stands scored as the kept reply's code runs."""
    from benchmark_helpers import answer_key

    from sweepq.fake import FakeAPI, FakeConfig

    db = tmp_path / "j.db"
    run_cli("enqueue", "--sweep", "he", "--benchmark", "humaneval", "--dataset",
            str(write_humaneval(tmp_path / "he.jsonl")), "--n-per-subtask", "6", "--arms",
            "echo-judge", db=db, check=True)
    config = FakeConfig(answer_key=answer_key(db, "he"), accuracy={"haiku": 0.5})
    with FakeAPI(config) as fake:
        run_cli("work", "--quiet", db=db, fake=fake, check=True)
    rows = [json.loads(line) for line in
            run_cli("export", "--sweep", "he", "-", db=db, check=True).stdout.splitlines()
            if "_meta" not in line]
    ways = set()
    for row in rows:
        replies = _journal(db, row["task_id"])
        agreed = runner_code(replies[0][1]) == runner_code(replies[1][1])
        ways.add(agreed)
        assert replies[2][1].startswith("YES" if agreed else "NO"), replies[2]
        assert row["sub_calls"] == len(replies) == (3 if agreed else 4), row
        kept = replies[0] if agreed else replies[3]
        assert ("sonnet" in kept[0]) == (not agreed)
        assert row["passed"] == ("return None" not in kept[1]), row
    assert ways == {True, False}    # both paths taken


def _journal(db: Path, task_id: str) -> list[tuple[str, str]]:
    """(model id, reply) of each call the job of `task_id` made, in order."""
    import sqlite3

    from sweepq.storetext import load

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT model, response_text FROM calls WHERE job_id = (SELECT "
                            "job_id FROM jobs WHERE task_id = ?) ORDER BY call_index",
                            (task_id,)).fetchall()
    return [(model, load(text)) for model, text in rows]


OWN_JUDGE = ('\n[task.subtasks.humaneval]\njudge_system = "Same program? YES or NO."\n'
             'judge_question = "Stub:\\n{question}\\nOne:\\n{a}\\nTwo:\\n{b}"\n'
             'judge_agreement = "prefix:SAME"\njudge_agree = "SAME"\n'
             'judge_disagree = "DIFFERENT"\n')


def test_a_set_can_ask_its_own_code_judge(tmp_path: Path) -> None:
    from sweepq.prompts import default_set

    own = tmp_path / "own.toml"
    own.write_text(default_set().text + OWN_JUDGE)
    shown = _requests(tmp_path, "--prompts", str(own))
    calls = next(e for e in shown if e["arm"] == "echo-judge")["calls"]
    assert calls[2]["system"] == "Same program? YES or NO."
    assert calls[2]["api"]["messages"][0]["content"] == \
        f"Stub:\n{_stubs()['HumanEval/0']}\nOne:\n<reply to call 1>\nTwo:\n<reply to call 2>"
    bbh_judge = default_set().judge_for("navigate")
    assert bbh_judge == default_set().data["judge"]      # BBH keeps the set's judge


def test_the_fake_answers_a_sets_own_code_judge_in_its_words(tmp_path: Path) -> None:
    """The fake recognises a set's own code judge and answers in its words."""
    from sweepq.fake.answers import Answerer
    from sweepq.fake.config import FakeConfig
    from sweepq.judges import Judge
    from sweepq.prompts import default_set, parse

    own = parse(default_set().text + OWN_JUDGE, "own")
    judge = Judge.of(own, "humaneval")
    name, stub, _, _ = ADD
    task = Task(task_id="HumanEval/0", subtask="humaneval", index=0, question=stub,
                choices=(), target="", answer="", prompt="", extra={"entry_point": name})
    answerer = Answerer(FakeConfig(prompt_sets=(own,)))

    def verdict(a: str, b: str) -> str:
        return answerer.text({"model": "claude-haiku", "system": judge.system, "messages": [
            {"role": "user", "content": judge.prompt(task, a, b)}]})

    same, differ = verdict("```python\nreturn x + y\n```", "return  x + y"), \
        verdict("return x + y", "return x - y")
    assert judge.agrees(same) and same.startswith("SAME")
    assert not judge.agrees(differ) and differ.startswith("DIFFERENT")


@pytest.mark.parametrize(("extra", "message"), [
    ('judge_question = "Is {question} {a}?"',
     r"^prompt set .*: task\.subtasks\.humaneval\.judge_question: missing placeholder \{b\}$"),
    ('judge_agreement = "prefix:SAME"',
     r"^prompt set .*: task\.subtasks\.humaneval\.judge_agreement: the agreeing verdict "
     r"'YES' \(task\.subtasks\.humaneval\.judge_agree\) does not count as agreement$"),
    ('judge_system = "  "', r"^prompt set .*: task\.subtasks\.humaneval\.judge_system: is empty$"),
    ('judge_agreement = "suffix:YES"',
     r"^prompt set .*: task\.subtasks\.humaneval\.judge_agreement: unknown rule"),
])
def test_a_bad_code_judge_is_refused_in_one_line(tmp_path: Path, extra: str,
                                                 message: str) -> None:
    import re

    from sweepq.prompts import default_set

    bad = tmp_path / "bad.toml"
    bad.write_text(default_set().text + f"\n[task.subtasks.humaneval]\n{extra}\n")
    db = tmp_path / "b.db"
    got = run_cli("enqueue", "--sweep", "he", "--benchmark", "humaneval", "--dataset",
                  str(write_humaneval(tmp_path / "he.jsonl")), "--arms", "echo-judge",
                  "--prompts", str(bad), db=db)
    assert got.returncode != 0 and "Traceback" not in got.stderr
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1, got.stderr
    assert re.search(message, lines[0].removeprefix("sweepq: error: ")), got.stderr
