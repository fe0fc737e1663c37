"""The live worker: threads that claim a job and run it, until the sweep is done.

One process runs N threads (model calls overlap in threads; SQLite serialises
writers, so more processes add robustness, not throughput). Any number of
processes may work on one database. Each thread loops:

    claim (short transaction) → run the job (`jobrun.JobRunner`: the arm's model
    calls with no transaction open, score, complete only if the lease is still ours)

A heartbeat thread extends the leases of the jobs in flight (`held.HeldJobs`). A
failure is never a result: `JobRunner` classifies what it does. SIGINT/SIGTERM/SIGHUP
stop claiming, let in-flight jobs finish for a grace period, then release the rest.
What this module adds to the shared job path is the threads and the waiting for work.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable

from .arms import Arm
from .attempt import Deferred, no_answer
from .backends import Backend
from .explain import explain
from .jobrun import JobRunner, on_stop_signals
from .leases import LeaseLost
from .models import JobClient
from .queue import Job, Pause, Queue, Sweep
from .runconfig import (
    EXIT_DATABASE,
    EXIT_FATAL,
    EXIT_INCOMPLETE,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_TEMPFAIL,
    Outcome,
    Tally,
    WorkerConfig,
)

__all__ = ["EXIT_DATABASE", "EXIT_FATAL", "EXIT_INCOMPLETE", "EXIT_INTERNAL", "EXIT_OK",
           "EXIT_TEMPFAIL", "Deferred", "Outcome", "Tally", "Worker", "WorkerConfig",
           "no_answer"]

IDLE_POLL_SECONDS = 0.5
THREAD_JOIN_SECONDS = 10.0  # how long run() waits for a thread that is ending anyway


class Worker:
    def __init__(self, queue: Queue, sweep: Sweep, arms: dict[str, Arm], backend: Backend,
                 config: WorkerConfig | None = None):
        self.queue, self.sweep = queue, sweep
        self.config = config or WorkerConfig()
        self.jobs = JobRunner(queue, sweep, arms, backend, self.config)
        self.tally, self.stopping, self.governor = (self.jobs.tally, self.jobs.stopping,
                                                    self.jobs.governor)
        self.held = self.jobs.held
        self._finished = threading.Event()      # all threads have returned
        self._abandoned = threading.Event()     # in-flight jobs released after a signal
        self._job_ended = threading.Condition()  # idle threads wake when a job ends
        self._jobs_ended = 0
        # Threads still alive when run() returned: blocked in a model call after a signal
        # released their jobs. The process must then end without finalising the
        # interpreter under them (`cli.work` exits with os._exit).
        self.stranded = 0

    # What tests and callers reach for on a worker, kept where they were.
    _in_flight = property(lambda self: self.held.in_flight)
    _sure_until = property(lambda self: self.held.sure_until)
    _lost = property(lambda self: self.held.lost)

    def hold(self, job_id: int, owner: str) -> None:
        """Raise LeaseLost unless this worker's lease on the job is live now (`HeldJobs`)."""
        self.held.hold(job_id, owner)

    def _extend(self, job_id: int, owner: str) -> None:
        self.held.extend(job_id, owner)

    def _run_job(self, job: Job, owner: str) -> None:
        self.jobs.run_job(job, owner)

    def client_for(self, job: Job) -> JobClient:
        """The client one attempt of `job` runs its arm with."""
        return self.jobs.client_for(job)

    def models(self) -> dict[str, str]:
        return self.jobs.models()

    # -- running --------------------------------------------------------------

    def run(self, on_tick: Callable[[], None] | None = None, tick_seconds: float = 0.5) -> Outcome:
        """Work until the sweep has nothing pending or running, or until stopped."""
        self.queue.release_gone(self.sweep.name)   # a crashed process's jobs: not waited on
        threads = [threading.Thread(target=self._loop, args=(f"{self.config.worker_name}:{i}",),
                                    name=f"sweepq-worker-{i}", daemon=True)
                   for i in range(self.config.concurrency)]
        heartbeat = threading.Thread(target=self.held.beat, args=(self._finished,),
                                     name="sweepq-heartbeat", daemon=True)
        for thread in [*threads, heartbeat]:
            thread.start()
        while any(t.is_alive() for t in threads) and not self._abandoned.is_set():
            if on_tick is not None:
                on_tick()
            for t in threads:
                t.join(timeout=tick_seconds / len(threads))
        self._finished.set()
        self.stopping.set()
        # The heartbeat wakes on _finished at once (or ends its one short write): joined, so
        # no thread of ours is inside a statement when the connection is closed.
        heartbeat.join(timeout=THREAD_JOIN_SECONDS)
        for t in threads:
            t.join(timeout=0 if self._abandoned.is_set() else THREAD_JOIN_SECONDS)
        self.stranded = sum(t.is_alive() for t in [*threads, heartbeat])
        if on_tick is not None:
            on_tick()
        return self.jobs.outcome()

    def stop(self, grace_seconds: float | None = None) -> None:
        """Stop claiming; release what is still in flight after the grace period."""
        if self.stopping.is_set():
            grace_seconds = 0           # a second signal: release now
        self.jobs.stop_with(EXIT_OK, "stopped by signal")
        grace = self.config.grace_seconds if grace_seconds is None else grace_seconds
        threading.Thread(target=self._release_after, args=(grace,), daemon=True).start()

    def install_signal_handlers(self) -> None:
        on_stop_signals(self.stop)

    def _release_after(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.held.in_flight:
            time.sleep(0.05)
        for job_id, owner in self.held.owners().items():
            self.queue.release(job_id, owner)
        with self.held.lock:
            self.held.in_flight.clear()
        # Threads blocked in a model call are daemons; their late complete() is refused.
        self._abandoned.set()

    # -- one thread -----------------------------------------------------------

    def _loop(self, owner: str) -> None:
        try:
            self._work(owner)
        except sqlite3.Error as exc:
            # The disk filled, the file turned read-only or corrupt: not a bug. The job this
            # thread held was released if the database still took it, else its lease expires.
            self.jobs.stop_with(EXIT_DATABASE, f"the database failed: {explain(exc)}; jobs in "
                                "flight were released or are left to their leases (they expire "
                                f"within {self.config.lease_seconds:.0f}s): fix the cause, run "
                                "`sweepq check`, then `sweepq work` again")
        except Exception as exc:
            # A bug or a broken database: never absorbed in silence. Stop every thread,
            # exit non-zero; a job this thread held is released below or by its lease.
            self.jobs.stop_with(EXIT_INTERNAL, f"internal error in {owner}: "
                                f"{type(exc).__name__}: {exc}")

    def _work(self, owner: str) -> None:
        while not self.stopping.is_set():
            claimed_at = time.monotonic()
            job = self.queue.claim(self.sweep.name, owner, self.config.lease_seconds)
            if job is None:
                if not self._wait_for_work():
                    return
                continue
            self.held.take(job.job_id, owner, claimed_at)
            try:
                self.jobs.run_job(job, owner)
            except LeaseLost:
                pass            # another worker holds it now: nothing of ours to write
            except BaseException:
                self._release_quietly(job.job_id, owner)
                raise
            finally:
                self.held.drop(job.job_id)
                with self._job_ended:
                    self._jobs_ended += 1
                    self._job_ended.notify_all()

    def _release_quietly(self, job_id: int, owner: str) -> None:
        try:
            self.queue.release(job_id, owner)
        except Exception:  # the lease expires on its own if the database is what failed
            pass

    def _wait_for_work(self) -> bool:
        """Nothing claimable: wait out a pause or a backoff. False when this thread should end."""
        ended_before = self._jobs_ended   # a job ending after this is never missed
        if self.queue.unfinished(self.sweep.name) == 0:
            return False                  # finished beats paused: nothing left to wait for
        if self.queue.release_gone(self.sweep.name):
            return True                   # a dead process's jobs: claimable at once
        if self.queue.bad_pauses():
            self.queue.drop_bad_pauses()  # reported once each, never waited on
        pause = self.queue.active_pause()
        if pause is not None:
            return self.jobs.wait_out(pause)
        if self._only_batched_left():
            return False
        held = self.queue.held_back(self.sweep.name)
        if held and self.queue.unfinished_except(self.sweep.name, held) == 0:
            # Only arms waiting for a provider are left: wait for it (or exit 75).
            return self.jobs.wait_for_provider(_latest(held.values()), sorted(held))
        next_at = self.queue.next_available_at(self.sweep.name)
        delay = IDLE_POLL_SECONDS if next_at is None else next_at - self.queue.clock()
        # Woken early when a job of this process ends: the last one ending means exit now.
        with self._job_ended:
            if self._jobs_ended == ended_before and not self.stopping.is_set():
                self._job_ended.wait(min(max(delay, 0.05), IDLE_POLL_SECONDS))
        return True

    def _only_batched_left(self) -> bool:
        """Every unfinished job has a call in a message batch still processing: a live
        worker may never take them (they are paid for), so waiting would be for ever if
        no batch runner is left. Exit 75 saying who collects them."""
        batched = self.queue.in_open_batches(self.sweep.name)
        if not batched or self.queue.unfinished(self.sweep.name) != batched:
            return False
        self.jobs.stop_with(EXIT_TEMPFAIL, f"{batched} jobs wait on message batches still "
                            "processing; `sweepq work --backend batch` collects them")
        return True


def _latest(pauses: Iterable[Pause]) -> Pause:
    """The pause that ends last (no end beats any end)."""
    return max(pauses, key=lambda p: math.inf if p.resume_at is None else p.resume_at)
