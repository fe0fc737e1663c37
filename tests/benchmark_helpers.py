"""What the benchmark tests share: an answer key from the enqueued jobs, a sweep's export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sweepq.queue import Queue


def payloads(db: Path, sweep: str) -> list[dict[str, Any]]:
    """The stored task of every job of `sweep`, once per task, in canonical order."""
    queue = Queue.open_read_only(db)
    try:
        rows = queue.read("SELECT task FROM jobs WHERE sweep = ? GROUP BY task_id"
                          " ORDER BY min(position)", (sweep,))
    finally:
        queue.close()
    return [json.loads(r["task"]) for r in rows]


def answer_key(db: Path, sweep: str, **override: str) -> dict[str, str]:
    """The task prompt -> gold the fake answers by; `override`: task_id -> another gold.
    Imported jobs (a stored task of `{}`) have none."""
    return {p["prompt"]: override.get(p["task_id"], p["answer"]) for p in payloads(db, sweep)
            if "prompt" in p}


def exported(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]
