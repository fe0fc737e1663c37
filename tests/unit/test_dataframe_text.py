"""`results_df` / `calls_df` give back every text as it came, as `export` does: a reply with
a lone surrogate (a local server splitting a character between tokens) is stored escaped
(`storetext`), and the dataframe of the same row must not show the escape."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from sweepq import api, db, jsonl, storetext
from sweepq.queue import Call, Queue, Result, Sweep

SPLIT = "The answer is (A) \ud83d"                   # an emoji cut after its first half
ODD = "\udc80 lone low " + storetext.ESCAPE + " and the escape itself"
ANY = st.characters() | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) \
    | st.sampled_from([storetext.ESCAPE, "\U00100000", "\U001007ff"])
# Joined from a list: `st.text(alphabet=...)` drops surrogates whatever the alphabet says.
TEXT = st.lists(ANY, min_size=1, max_size=20).map("".join)


def _one_done_job(queue: Queue, text: str, sweep: str = "s") -> None:
    """A sweep with one job done: `text` as its reply, detail, journaled reply and error."""
    queue.enqueue(Sweep(name=sweep, arms=["a"], subtasks=["x"], n_per_subtask=1),
                  [("bbh/x/0", {})])
    job = queue.claim(sweep, "w")
    queue.record_call(Call(job.job_id, 1, 0, "m", "h", None, error_class="transient",
                           error=text))
    queue.record_call(Call(job.job_id, 1, 1, "m", "h2", text))
    queue.complete(job.job_id, "w", Result(False, text, 1.0, 2, output=text))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Queue]:
    """One database for every example (a sweep each): a new file per example is slow."""
    queue = Queue(db.connect(tmp_path_factory.mktemp("frames") / "t.db"))
    yield queue
    queue.close()


_SWEEPS = itertools.count()


@settings(max_examples=examples(40), deadline=None)
@given(text=TEXT)
def test_the_frames_hold_the_text_as_it_came(shared: Queue, text: str) -> None:
    import pandas as pd  # at run time: collection need not import it

    sweep = f"s{next(_SWEEPS)}"
    _one_done_job(shared, text, sweep)
    results, calls = api.results_df(shared, sweep), api.calls_df(shared, sweep)
    assert results.loc[0, "output"] == text and results.loc[0, "detail"] == text
    assert calls.loc[0, "error"] == text and pd.isna(calls.loc[1, "error"])
    assert pd.isna(calls.loc[0, "response_text"]) and calls.loc[1, "response_text"] == text


def test_the_frame_agrees_with_the_export(db_path: Path) -> None:
    queue = Queue(db.connect(db_path))
    try:
        _one_done_job(queue, SPLIT + " | " + ODD)
        frame = api.results_df(queue, "s")
        out = io.StringIO()
        jsonl.export(queue, queue.resolve_sweep("s"), out)
    finally:
        queue.close()
    [row] = [json.loads(line) for line in out.getvalue().splitlines()[1:]]
    assert frame.loc[0, "detail"] == row["detail"] == SPLIT + " | " + ODD
    assert storetext.ESCAPE + "\U00100000" not in frame.loc[0, "output"]
    assert frame.loc[0, "subtask"] == "x" and not frame.loc[0, "passed"]
