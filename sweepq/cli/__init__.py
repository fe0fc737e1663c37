"""The `sweepq` command: parse, call the library, print. No queue logic lives here.

`base` holds the group, its global options and the shared helpers; the commands are in
`run` (enqueue, work, batches, models, retry, pause, resume) and `read` (everything
that reads or moves results). Importing both registers every command on `main`.
"""

from __future__ import annotations

from . import read, run
from .base import Group, main

__all__ = ["Group", "main", "read", "run"]
