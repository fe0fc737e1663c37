"""Text SQLite cannot hold as it is (lone surrogates) is stored reversibly, end to end.

A local or OpenAI-compatible server that splits a character between tokens sends a
lone surrogate (`"\\ud800"` in its JSON); the call is paid, so its text must be
journaled, replayed and read back exactly, never turned into an arm bug that pays
again on each attempt.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conftest import cli_env, run_cli
from hypothesis import given
from hypothesis import strategies as st

from sweepq import db, storetext
from sweepq.fake.openai import FakeOpenAI
from sweepq.fake.vendor import Scripted
from sweepq.queue import Queue

SPLIT = "The answer is (A) \ud83d"          # an emoji cut after its first half
ODD = "\udc80 lone low " + storetext.ESCAPE + " and the escape itself"


# Any text: ordinary characters, lone surrogates, the escape and its stand-ins.
ANY = st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) \
    | st.sampled_from([storetext.ESCAPE, "\U00100000", "\U001007ff"])


# Joined from a list: `st.text(alphabet=...)` drops surrogates whatever the alphabet says.
@given(st.lists(ANY).map("".join))
def test_store_then_load_is_the_identity_and_sqlite_takes_it(text: str) -> None:
    stored = storetext.store(text)
    stored.encode("utf-8")          # what SQLite's binding needs
    assert storetext.load(stored) == text


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"],
                                      exclude_characters=[storetext.ESCAPE])))
def test_ordinary_text_is_stored_as_it_is(text: str) -> None:
    assert storetext.store(text) == text and storetext.load(text) == text


def completion(text: str) -> Scripted:
    return Scripted(200, {
        "id": "chatcmpl-split", "object": "chat.completion", "created": 0, "model": "qwen3:4b",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": text, "refusal": None}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}})


def test_a_reply_with_a_lone_surrogate_is_paid_once_and_reads_back(db_path: Path,
                                                                   sample_bbh: Path,
                                                                   fake_api) -> None:
    with FakeOpenAI() as local:
        local.script([completion(SPLIT)])
        run_cli("enqueue", "--sweep", "s", "--subtasks", "web_of_lies", "--n-per-subtask",
                "1", "--arms", "haiku-only", "--dataset", str(sample_bbh),
                "--model", f"haiku=local:qwen3:4b@{local.url}/v1", db=db_path, check=True)
        done = run_cli("work", db=db_path, env=cli_env(fake_api))
        assert done.returncode == 0, done.stderr
        assert local.stats()["requests"] == 1          # paid once
    queue = Queue(db.connect(db_path))
    try:
        job = queue.read("SELECT job_id, state, attempts FROM jobs")[0]
        assert (job["state"], job["attempts"]) == ("done", 1)
        [call] = queue.journal(job["job_id"])
        assert call.response_text == SPLIT             # the journal replays it exactly
        output = queue.read("SELECT output FROM results")[0]["output"]
        assert storetext.load(output) == SPLIT
    finally:
        queue.close()


def test_every_text_column_a_provider_fills_takes_any_text(db_path: Path) -> None:
    """Errors and pause messages carry a provider's words too."""
    from sweepq.queue import Call, Result, Sweep

    queue = Queue(db.connect(db_path))
    try:
        queue.enqueue(Sweep(name="s", arms=["a"], subtasks=["x"], n_per_subtask=2),
                      [("bbh/x/0", {}), ("bbh/x/1", {})])
        first, second = queue.claim("s", "w"), queue.claim("s", "w")
        queue.record_call(Call(first.job_id, 1, 0, "m", "h", None, error_class="transient",
                               error=ODD))
        queue.fail(first.job_id, "w", ODD)
        queue.pause(None, "fatal", ODD)
        queue.release(second.job_id, "w", "transient", ODD)
        queue.resume()
        again = queue.claim("s", "w")
        queue.complete(again.job_id, "w", Result(False, ODD, 1.0, 1, output=ODD))
        texts = queue.read("SELECT last_error FROM jobs WHERE last_error IS NOT NULL")
        assert [storetext.load(r["last_error"]) for r in texts] == [ODD]
        result = queue.read("SELECT detail, output FROM results")[0]
        assert storetext.load(result["detail"]) == storetext.load(result["output"]) == ODD
    finally:
        queue.close()
    with sqlite3.connect(db_path) as raw:   # nothing in the file is anything but UTF-8
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_export_writes_the_text_as_it_came(db_path: Path) -> None:
    import io
    import json

    from sweepq import jsonl
    from sweepq.queue import Result, Sweep

    queue = Queue(db.connect(db_path))
    try:
        sweep = Sweep(name="s", arms=["a"], subtasks=["x"], n_per_subtask=2)
        queue.enqueue(sweep, [("bbh/x/0", {}), ("bbh/x/1", {})])
        for detail in (f"expected A got {SPLIT}", "plain"):
            job = queue.claim("s", "w")
            queue.complete(job.job_id, "w", Result(False, detail, 1.0, 1))
        out = io.StringIO()
        jsonl.export(queue, sweep, out)
    finally:
        queue.close()
    rows = out.getvalue().splitlines()[1:]
    assert [json.loads(r)["detail"] for r in rows] == [f"expected A got {SPLIT}", "plain"]
    assert "\\ud83d" in rows[0] and storetext.ESCAPE not in out.getvalue()
