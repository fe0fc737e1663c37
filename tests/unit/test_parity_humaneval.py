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
ARMS = ("haiku-only", "sonnet-only", "echo-ast")
N = 3


def runner_user(stub: str) -> str:
    return f"Implement the following function:\n\n{stub}"


def runner_calls(arm: str, stub: str) -> list[tuple[str, str, str]]:
    """(model alias, system, user) of each call the runner made, the longest path."""
    user = runner_user(stub)
    if arm == "haiku-only":
        return [("haiku", PERSONA_A, user)]
    if arm == "sonnet-only":
        return [("sonnet", PERSONA_A, user)]
    return [("haiku", PERSONA_A, user), ("haiku", PERSONA_B, user), ("sonnet", PERSONA_A, user)]


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
