"""The store: every SQL write sweepq makes, split along its tables.

`Queue` is the one object the rest of sweepq holds: the database core
(`database.Database`) with one part per concept mixed in. Each part is a module
of this package and names the tables it writes; the statements the claim and its
readers share live once in `claim_sql`.
"""

from __future__ import annotations

from .batches import Batches
from .counts import Counts
from .enqueue import Enqueue
from .jobs import Jobs
from .leases import Leases
from .pauses import Pauses
from .repair import Repair


class Queue(Jobs, Enqueue, Pauses, Leases, Batches, Repair, Counts):
    """A sweepq database, shared by the threads of one process.

    One connection and one lock per process: SQLite serialises writers anyway,
    and a lock is fairer to threads than SQLite's busy handler.
    """


__all__ = ["Queue"]
