"""What a Claude CLI sweep really sends (docs/vendors.md), read off the real binary.

The page's table says which prompt-set settings reach the Messages API when `claude -p`
carries them, and what the CLI adds whatever the set says. An echo-judge job on the real
`claude` (tests/claude_real.py: 2.1.328 from npm, placeholder credentials) against the
fake on loopback sends its persona and judge calls; each request body the fake received
is checked against that table, so the page stays true for the pinned version.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from claude_real import binary, environment
from conftest import ROOT, run_cli

from sweepq.fake import FakeAPI, FakeConfig
from sweepq.prompts import default_set

pytestmark = pytest.mark.slow


class Recording(FakeAPI):
    """The fake, keeping the body of every Messages request it answers."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        super().__init__(config)
        self.bodies: list[dict] = []

    def handle(self, method, path, headers, raw):  # type: ignore[no-untyped-def]
        if method == "POST" and path.startswith("/v1/messages"):
            self.bodies.append(json.loads(raw))
        return super().handle(method, path, headers, raw)


def _page() -> str:
    return " ".join((ROOT / "docs" / "vendors.md").read_text().split())


def _sent(tmp_path: Path, sample_bbh: Path) -> tuple[list[dict], str]:
    """The bodies one echo-judge job made the real CLI send, and the job's task prompt."""
    db, home, cwd = tmp_path / "s.db", tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    run_cli("enqueue", "--sweep", "s", "--subtasks", "web_of_lies", "--n-per-subtask", "1",
            "--arms", "echo-judge", "--dataset", str(sample_bbh), db=db, check=True)
    with Recording(FakeConfig()) as fake:
        done = subprocess.run(
            [sys.executable, "-m", "sweepq", "--db", str(db), "work", "--backend", "claude-cli",
             "--claude-bin", str(binary()), "--quiet"],
            cwd=cwd, env=environment(home, fake.url), capture_output=True, text=True,
            timeout=180)
        assert done.returncode == 0, done.stderr
    prompt = json.loads(run_cli("query", "select task from jobs", "--json", db=db,
                                check=True).stdout)[0]["task"]
    return fake.bodies, json.loads(prompt)["prompt"]


def test_what_the_cli_sends_is_what_the_page_says(tmp_path: Path, sample_bbh: Path) -> None:
    bodies, prompt = _sent(tmp_path, sample_bbh)
    page = _page()
    default = default_set()
    assert len(bodies) >= 3                      # persona A, persona B, the judge
    systems = {body["system"][2]["text"] for body in bodies}
    assert {default.persona_a, default.persona_b, default.judge_system} <= systems
    for body in bodies:
        # The third system block is the set's text, after the billing header and the SDK line.
        assert body["system"][1]["text"].startswith(
            "You are a Claude agent, built on Anthropic's Claude Agent SDK.")
        assert f"every call asks for `max_tokens` {body['max_tokens']}" in page
        assert body["max_tokens"] not in (default.answer_max_tokens, default.judge_max_tokens)
        assert f"{len(body['tools'])} tools with their schemas" in page
        assert {"Bash", "Edit", "Read", "Write", "Agent"} <= {t["name"] for t in body["tools"]}
        size = len(json.dumps(body["tools"]))
        stated = int(re.search(r"about ([\d,]+) characters: Bash", page).group(1).replace(",", ""))
        assert 0.8 * stated < size < 1.2 * stated, size
        assert "context_management" in body
        if body["model"].startswith("claude-haiku-4-5"):
            assert f"`budget_tokens` {body['thinking']['budget_tokens']}" in page
        if body["model"].startswith("claude-sonnet-4-6"):       # the judge said NO: escalated
            effort = body["output_config"]["effort"]
            assert f"Sonnet 4.6: {body['thinking']['type']}, with `output_config.effort` " \
                   f"`{effort}`" in page
    persona_calls = [b for b in bodies if b["system"][2]["text"] == default.persona_a]
    last = persona_calls[0]["messages"][-1]["content"]
    texts = [block["text"] for block in last if block.get("type") == "text"]
    assert texts[-1].strip() == prompt.strip()    # the task prompt: the last text block
    before = sum(len(t) for t in texts[:-1])
    stated = int(re.search(r"after about ([\d,]+) characters", page).group(1).replace(",", ""))
    assert 0.8 * stated < before < 1.2 * stated, before
