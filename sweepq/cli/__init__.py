"""The `sweepq` command: parse, call the library, print. No queue logic lives here.

`base` holds the group, its global options and the shared helpers; the commands are in
`run` (enqueue, work, batches, models, retry, pause, resume), `plan` (what a sweep will
send and cost: prompts, requests, estimate) and `read` (everything that reads or moves
results). Importing them registers every command on `main`.
"""

from __future__ import annotations

from . import plan, read, run
from .base import Group, main

__all__ = ["Group", "main", "plan", "read", "run"]
