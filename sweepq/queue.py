"""The queue: sweepq's database as one object (`Queue`) and its records.

The statements live in `sweepq.store`, one module per concept; this module keeps
the names every caller imports.
"""

from __future__ import annotations

from .records import Call, Job, Pause, Result, Sweep
from .store import Queue
from .store.breaker import BREAKER_JOBS
from .store.enqueue import ENQUEUE_BATCH
from .store.jobs import BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS, backoff_seconds

__all__ = ["BACKOFF_BASE_SECONDS", "BACKOFF_CAP_SECONDS", "BREAKER_JOBS", "ENQUEUE_BATCH",
           "Call", "Job", "Pause", "Queue", "Result", "Sweep", "backoff_seconds"]
