"""The jobs a runner holds and how surely it holds them: the leases object the live
worker and the batch runner share.

Each held job has its lease owner and the monotonic time until which the lease surely
holds (taken before the claim or heartbeat that set it, so wall-clock steps cannot
stretch it). A heartbeat extends every lease a few times per lease period; one refused
(another worker took the job) marks the job lost, and its chain stops before its next
call (`hold`).
"""

from __future__ import annotations

import sqlite3
import threading
import time

from .leases import LeaseLost
from .queue import Queue


class HeldJobs:
    """job_id → owner of the jobs in flight, with their sure-until times and the lost ones."""

    def __init__(self, queue: Queue, lease_seconds: float) -> None:
        self.queue, self.lease_seconds = queue, lease_seconds
        self.lock = threading.Lock()
        self.in_flight: dict[int, str] = {}     # job_id -> lease owner
        self.sure_until: dict[int, float] = {}  # job_id -> monotonic end of a sure lease
        self.lost: set[int] = set()             # jobs a heartbeat found taken back

    def take(self, job_id: int, owner: str, claimed_at: float | None = None) -> None:
        """Hold a job just claimed (`claimed_at`: the monotonic time before the claim)."""
        with self.lock:
            self.in_flight[job_id] = owner
            if claimed_at is not None:
                self.sure_until[job_id] = claimed_at + self.lease_seconds
            self.lost.discard(job_id)

    def drop(self, job_id: int) -> None:
        """The job is no longer ours: done, failed, released, or lost."""
        with self.lock:
            self.in_flight.pop(job_id, None)
            self.sure_until.pop(job_id, None)
            self.lost.discard(job_id)

    def owners(self) -> dict[int, str]:
        """A copy of job_id → owner, read under the lock."""
        with self.lock:
            return dict(self.in_flight)

    def hold(self, job_id: int, owner: str) -> None:
        """Raise LeaseLost unless the lease on the job is live now.

        A heartbeat that found the job taken back ends it. Past the monotonic time the
        lease was last surely extended (the process stalled: SIGSTOP, a laptop asleep,
        swapping), the lease is renewed first, which succeeds only while nobody took the
        job: a stalled worker never calls on a lease another worker may already be using.
        """
        with self.lock:
            lost = job_id in self.lost
            sure_until = self.sure_until.get(job_id, 0.0)
        if lost:
            raise LeaseLost(f"job {job_id}: a heartbeat found it taken back")
        if time.monotonic() < sure_until - self.lease_seconds / 2:
            return
        self.extend(job_id, owner)
        with self.lock:
            if job_id in self.lost:
                raise LeaseLost(f"job {job_id}: its lease ran out and was taken back")

    def extend(self, job_id: int, owner: str) -> None:
        """One heartbeat: the lease surely holds a lease period from before it was sent;
        a heartbeat refused (the job taken back) marks the job lost."""
        sent_at = time.monotonic()
        ok = self.queue.heartbeat(job_id, owner, self.lease_seconds)
        with self.lock:
            if not ok:
                self.lost.add(job_id)
            elif job_id in self.in_flight:
                self.sure_until[job_id] = sent_at + self.lease_seconds

    def beat(self, finished: threading.Event) -> None:
        """Extend the lease of every job in flight, a few times per lease period, until
        `finished` is set (it wakes the loop at once)."""
        interval = max(self.lease_seconds / 4, 0.2)
        while not finished.wait(interval):
            for job_id, owner in self.owners().items():
                try:
                    self.extend(job_id, owner)
                except sqlite3.Error:   # the job's thread meets the same failure and says so
                    break
