"""Parity with the old runner: with the shipped `echo-parity` set, `requests --json` gives,
argument for argument, what the runner (enspyrco/echo, branch feat/bbh-resilient-resume)
sent to the Claude CLI for the same rows.

The runner's side is built here from facts written out (its strings, as it sent them),
not from its code:
- the task prompt: the hub's question stripped, a blank line, `Choices:`, one line per
  choice, a blank line, then the closing instruction below. Multiple-choice rows carry
  the hub's labels `(A)`…; binary rows get the runner's own choices labelled `A)`, `B)`;
  causal_judgement's question keeps its own `Options:` block;
- each call: `claude --print --setting-sources "" --model <alias> <prompt>` with the
  prompt `[SYSTEM]\\n<system>` and `[HUMAN]\\n<user>` joined by a blank line, no stdin;
- haiku-only: haiku, persona A; sonnet-only: sonnet, persona A; echo-judge (judge not
  agreeing): haiku A, haiku B, the haiku judge, then sonnet A.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

CLOSING = ("Reply with your reasoning, then end with exactly one line:\nAnswer: X\n"
           "where X is the letter of the correct choice (A, B, C, ...).")
PERSONA_A = ("You are a careful, methodical reasoner. Work through the problem step by step.\n"
             "End with exactly one line: Answer: X\nwhere X is the letter of your chosen "
             "option (A, B, C, ...). No text after that line.")
PERSONA_B = ("You are a pragmatic problem solver. Use the simplest reasoning that fits the "
             "evidence.\nEnd with exactly one line: Answer: X\nwhere X is the letter of your "
             "chosen option (A, B, C, ...). No text after that line.")
JUDGE_SYSTEM = ("You compare two answers to the same multiple-choice question. Reply ONLY "
                "with the single word YES or NO. Nothing else.")
JUDGE = ("Question and choices:\n{prompt}\n\n--- Candidate A ---\n{a}\n\n--- Candidate B ---\n"
         "{b}\n\nDo A and B select the same choice letter (same meaning)? Answer YES or NO.")

# date_understanding: (the hub's question, its choices, the gold label)
DATES = [
    ("Today is Christmas Eve of 1937. What is the date 10 days ago in MM/DD/YYYY?",
     ["12/14/2026", "12/14/1950", "12/14/2007", "12/14/1937", "07/14/1938", "12/14/1988"],
     "(D)"),
    ("Tomorrow is 11/12/2019. What is the date one year ago from today in MM/DD/YYYY?",
     ["09/04/2018", "11/11/2018", "08/25/2018", "11/02/2018", "11/04/2018"], "(B)"),
    ("Jane and John married on Jan 2, 1958. It is their 5-year anniversary today. What is "
     "the date tomorrow in MM/DD/YYYY?",
     ["01/11/1961", "01/03/1963", "01/18/1961", "10/14/1960", "01/03/1982", "12/03/1960"],
     "(B)"),
    ("It is 4/19/1969 today. What is the date 24 hours later in MM/DD/YYYY?",
     ["04/20/1969", "04/19/1969", "04/20/1968"], "(A)"),
    ("Yesterday was 12/31/1929. What is the date today in MM/DD/YYYY?",
     ["01/01/1930", "12/31/1929", "01/02/1930", "01/01/1931"], "(A)"),
]
CAUSAL_STEM = ("How would a typical person answer each of the following questions about "
               "causation?\n")
CAUSES = [
    (CAUSAL_STEM + "A machine is set up so that it short circuits if the black wire and the "
     "red wire touch. Did the fire cause the short circuit?", "No"),
    (CAUSAL_STEM + "Frank T. shot at a target and hit his neighbour. Did Frank T. "
     "intentionally shoot his neighbour?", "No"),
    (CAUSAL_STEM + "Suzy and Billy both throw rocks; Suzy's hits first. Did Suzy cause the "
     "bottle to shatter?", "Yes"),
    (CAUSAL_STEM + "A company changes its policy to make more money, knowing it helps the "
     "environment. Did the CEO intentionally help the environment?", "Yes"),
    (CAUSAL_STEM + "Alice logs in at 9 am and so does Zoe; the email is deleted. Did Zoe "
     "cause the email to be deleted?", "No"),
]
LIES = [
    ("Question: Fidel lies. Fletcher says Fidel tells the truth. Does Fletcher tell the truth?",
     "No"),
    ("Question: Kristian tells the truth. Michaela says Kristian lies. Does Michaela tell the "
     "truth?", "No"),
    ("Question: Jim lies. Ka says Jim lies. Does Ka tell the truth?", "Yes"),
    ("Question: Alejandro lies. Amberly says Alejandro tells the truth. Osvaldo says Amberly "
     "lies. Does Osvaldo tell the truth?", "Yes"),
    ("Question: Shalonda tells the truth. Sima says Shalonda tells the truth. Does Sima tell "
     "the truth?", "Yes"),
]
ARMS = ("haiku-only", "sonnet-only", "echo-judge")


def upstream(folder: Path) -> Path:
    """The same rows as upstream BBH JSON, the input carrying its `Options:` block."""
    folder.mkdir()
    mc = [{"input": q + "\nOptions:\n" + "\n".join(f"({chr(65 + i)}) {c}"
                                                   for i, c in enumerate(cs)), "target": t}
          for q, cs, t in DATES]
    causal = [{"input": q + "\nOptions:\n- Yes\n- No", "target": t} for q, t in CAUSES]
    lies = [{"input": q, "target": t} for q, t in LIES]
    for name, rows in (("date_understanding", mc), ("causal_judgement", causal),
                       ("web_of_lies", lies)):
        (folder / f"{name}.json").write_text(json.dumps({"examples": rows}))
    return folder


def runner_prompts() -> dict[str, str]:
    """task id -> the runner's task prompt."""
    out = {}
    for i, (q, choices, _) in enumerate(DATES):
        lines = "\n".join(f"({chr(65 + k)}) {c}" for k, c in enumerate(choices))
        out[f"bbh/date_understanding/{i}"] = f"{q}\n\nChoices:\n{lines}\n\n{CLOSING}"
    for i, (q, _) in enumerate(CAUSES):
        out[f"bbh/causal_judgement/{i}"] = (f"{q}\nOptions:\n- Yes\n- No\n\nChoices:\n"
                                            f"A) Yes\nB) No\n\n{CLOSING}")
    for i, (q, _) in enumerate(LIES):
        out[f"bbh/web_of_lies/{i}"] = f"{q}\n\nChoices:\nA) Yes\nB) No\n\n{CLOSING}"
    return out


def runner_call(alias: str, system: str, human: str) -> dict:
    prompt = f"[SYSTEM]\n{system}\n\n[HUMAN]\n{human}"
    return {"argv": ["claude", "--print", "--setting-sources", "", "--model", alias, prompt],
            "stdin": None}


def runner_calls(arm: str, prompt: str) -> list[dict]:
    if arm == "haiku-only":
        return [runner_call("haiku", PERSONA_A, prompt)]
    if arm == "sonnet-only":
        return [runner_call("sonnet", PERSONA_A, prompt)]
    judged = JUDGE.format(prompt=prompt, a="<reply to call 1>", b="<reply to call 2>")
    return [runner_call("haiku", PERSONA_A, prompt), runner_call("haiku", PERSONA_B, prompt),
            runner_call("haiku", JUDGE_SYSTEM, judged), runner_call("sonnet", PERSONA_A, prompt)]


@pytest.fixture
def parity_sweep(db_path: Path, tmp_path: Path) -> Path:
    run_cli("enqueue", "--sweep", "parity", "--dataset", str(upstream(tmp_path / "bbh")),
            "--subtasks", "date_understanding,causal_judgement,web_of_lies",
            "--n-per-subtask", "5", "--arms", ",".join(ARMS), "--prompts", "echo-parity",
            "--scorer", "echo", "--model", "haiku=haiku", "--model", "sonnet=sonnet",
            db=db_path, check=True)
    return db_path


def test_requests_json_equal_the_runners_argument_for_argument(parity_sweep: Path) -> None:
    shown = json.loads(run_cli("requests", "--sweep", "parity", "--json", db=parity_sweep,
                               check=True).stdout)
    prompts = runner_prompts()
    assert [(e["task_id"], e["arm"]) for e in shown] == \
        [(t, a) for t in prompts for a in ARMS]          # 3 subtasks x 5 tasks x 3 arms
    for entry in shown:
        want = runner_calls(entry["arm"], prompts[entry["task_id"]])
        got = [call["claude_cli"] for call in entry["calls"]]
        assert got == want, entry["task_id"] + " " + entry["arm"]
    judge = next(e for e in shown if e["arm"] == "echo-judge")["calls"]
    assert len(judge) == 4                                # the 4-call path
    for call in judge:                                    # the API side: no system, one
        assert call["system"] is None and call["max_tokens"] is None     # message, unset
        assert call["api"]["messages"] == [{"role": "user", "content": call["claude_cli"]
                                            ["argv"][-1]}]
        assert "system" not in call["api"] and call["api"]["max_tokens"] == 4096


def test_the_sweep_scores_with_the_runners_scorer(parity_sweep: Path) -> None:
    import sqlite3

    with sqlite3.connect(parity_sweep) as conn:
        assert conn.execute("SELECT scorer FROM sweeps").fetchone() == ("echo",)


def test_a_cli_run_in_text_mode_reads_plain_stdout(db_path: Path, tmp_path: Path) -> None:
    """`work --backend claude-cli` with the parity set: the prompt goes as the argument,
    plain text comes back (the stand-in CLI answers `--output-format`-less runs in text),
    right-stripped."""
    import sqlite3

    from conftest import cli_env

    run_cli("enqueue", "--sweep", "cli", "--dataset", str(upstream(tmp_path / "bbh")),
            "--subtasks", "web_of_lies", "--n-per-subtask", "2", "--arms", "haiku-only",
            "--prompts", "echo-parity", "--scorer", "echo", db=db_path, check=True)
    claude = Path(__file__).resolve().parents[1] / "bin" / "claude"
    run_cli("work", "--sweep", "cli", "--backend", "claude-cli", "--claude-bin", str(claude),
            "-c", "2", "--quiet", db=db_path, check=True,
            env=cli_env(FAKE_CLAUDE_NOW="1795641676"))
    with sqlite3.connect(db_path) as conn:
        outputs = [r[0] for r in conn.execute("SELECT output FROM results")]
        journal = conn.execute("SELECT count(*), sum(cost_usd IS NULL) FROM calls").fetchone()
    assert len(outputs) == 2 and all(o and o == o.rstrip() for o in outputs)
    assert not any(o.lstrip().startswith("{") for o in outputs)   # text, not a JSON line
    assert journal == (2, 2)          # plain text reports no cost: unknown, never $0
