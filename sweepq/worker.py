"""The worker: threads that claim a job, run its arm, score it and commit the result.

One process runs N threads (model calls overlap in threads; SQLite serialises
writers, so more processes add robustness, not throughput). Any number of
processes may work on one database. Each thread loops:

    claim (short transaction) → run the arm (model calls, no transaction open)
    → score → complete (short transaction, only if the lease is still ours)

A heartbeat thread extends the leases of the jobs in flight. A failure is
never a result: it is classified, and either pauses the whole queue
(exhausted, rate-limited), counts an attempt (transient), errors the job, or
stops the run (fatal). SIGINT/SIGTERM/SIGHUP stop claiming, let in-flight jobs
finish for a grace period, then release the rest.

Why this module is over 400 lines: the loop, the failure policy, the waiting and the
leases all read and write the same few things (the jobs in flight, the exit code, the
stop flag) under one lock; split apart, each piece would take the others' state as
arguments and the order of a stop would be read across files.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from . import bounds, caching, scorers, stats
from .arms import Arm
from .backends import Backend
from .bbh import Task
from .errors import SweepqError
from .explain import explain
from .failures import CallFailed, Failure, signature
from .governor import Governor
from .leases import LeaseLost
from .models import JobClient, QueuePaused
from .queue import BREAKER_JOBS, Job, Pause, Queue, Result, Sweep
from .sandbox import SandboxError

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_DATABASE = 1           # the database failed (full, read-only, corrupt): not a bug, same code
EXIT_FATAL = 2
EXIT_TEMPFAIL = 75          # sysexits EX_TEMPFAIL: try again later
EXIT_INCOMPLETE = 3         # nothing left to run, but some jobs ended in `error`
IDLE_POLL_SECONDS = 0.5
PAUSE_POLL_SECONDS = 1.0    # how often a paused worker looks for `sweepq resume`
PROBE_FIRST_SECONDS = 5.0   # an unreachable API is tried again after this pause,
PROBE_MAX_SECONDS = 300.0   # doubled each time it is still unreachable, up to this
# A Ctrl-C reaches the CLI child and this process together; the child may report first.
# An interrupted call waits this long for the worker's own stop before counting.
SIGNAL_ARRIVAL_SECONDS = 1.0
THREAD_JOIN_SECONDS = 10.0  # how long run() waits for a thread that is ending anyway


@dataclass
class WorkerConfig:
    concurrency: int = 8
    lease_seconds: float = 120.0
    max_wait: float | None = None       # exit 75 rather than wait out a longer pause
    grace_seconds: float = 30.0         # on a signal: time in-flight jobs get to finish
    governor: bool = True               # pace calls from the rate-limit headers (governor.py)
    cache: str = "5m"                   # prompt caching lifetime, or "off" (caching.py)
    worker_name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    def __post_init__(self) -> None:
        bounds.count("concurrency", self.concurrency, 1, bounds.MAX_CONCURRENCY)
        bounds.duration("lease_seconds", self.lease_seconds, 1.0, 86400.0)
        if self.max_wait is not None:
            bounds.duration("max_wait", self.max_wait)
        try:
            caching.check_ttl(self.cache)
        except ValueError as exc:
            raise SweepqError(str(exc), "cache") from None


@dataclass
class Tally:
    """What this process did, for the progress bar and the closing line."""

    done: int = 0
    passed: int = 0
    failed_attempts: int = 0


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    message: str
    tally: Tally


class Deferred(BaseException):
    """The arm's next call goes out elsewhere (a message batch): keep the job, run it later.

    A BaseException, so an arm's own `except Exception` cannot swallow it.
    """


class Worker:
    def __init__(self, queue: Queue, sweep: Sweep, arms: dict[str, Arm], backend: Backend,
                 config: WorkerConfig | None = None):
        self.queue, self.sweep, self.arms, self.backend = queue, sweep, arms, backend
        self.scorer = scorers.get(sweep.scorer)
        self.config = config or WorkerConfig()
        self.tally = Tally()
        self.stopping = threading.Event()       # stop claiming
        self._finished = threading.Event()      # all threads have returned
        self._abandoned = threading.Event()     # in-flight jobs released after a signal
        self._job_ended = threading.Condition()  # idle threads wake when a job ends
        self._jobs_ended = 0
        self._lock = threading.Lock()
        self._in_flight: dict[int, str] = {}    # job_id -> lease owner
        # job_id -> the monotonic time until which this worker's lease surely holds (taken
        # before the claim or heartbeat that set it): wall-clock steps cannot stretch it.
        self._sure_until: dict[int, float] = {}
        self._lost: set[int] = set()            # jobs a heartbeat found taken back
        self._exit: tuple[int, str] | None = None
        self._probe_wait = PROBE_FIRST_SECONDS
        self.governor = (Governor(queue, self.config.worker_name) if self.config.governor
                         else None)
        # Threads still alive when run() returned: blocked in a model call after a signal
        # released their jobs. The process must then end without finalising the
        # interpreter under them (`cli.work` exits with os._exit).
        self.stranded = 0

    # -- running --------------------------------------------------------------

    def run(self, on_tick: Callable[[], None] | None = None, tick_seconds: float = 0.5) -> Outcome:
        """Work until the sweep has nothing pending or running, or until stopped."""
        self.queue.release_gone(self.sweep.name)   # a crashed process's jobs: not waited on
        threads = [threading.Thread(target=self._loop, args=(f"{self.config.worker_name}:{i}",),
                                    name=f"sweepq-worker-{i}", daemon=True)
                   for i in range(self.config.concurrency)]
        heartbeat = threading.Thread(target=self._heartbeat, name="sweepq-heartbeat",
                                     daemon=True)
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
        code, message = self._exit or (EXIT_OK, "")
        return Outcome(code, message, self.tally)

    def stop(self, grace_seconds: float | None = None) -> None:
        """Stop claiming; release what is still in flight after the grace period."""
        if self.stopping.is_set():
            grace_seconds = 0           # a second signal: release now
        self.stopping.set()
        self._set_exit(EXIT_OK, "stopped by signal")
        grace = self.config.grace_seconds if grace_seconds is None else grace_seconds
        threading.Thread(target=self._release_after, args=(grace,), daemon=True).start()

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda *_: self.stop())

    def _release_after(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self._in_flight:
            time.sleep(0.05)
        with self._lock:
            stranded = dict(self._in_flight)
        for job_id, owner in stranded.items():
            self.queue.release(job_id, owner)
        with self._lock:
            self._in_flight.clear()
        # Threads blocked in a model call are daemons; their late complete() is refused.
        self._abandoned.set()

    # -- one thread -----------------------------------------------------------

    def _loop(self, owner: str) -> None:
        try:
            self._work(owner)
        except sqlite3.Error as exc:
            # The disk filled, the file turned read-only or corrupt: not a bug. The job this
            # thread held was released if the database still took it, else its lease expires.
            self._set_exit(EXIT_DATABASE, f"the database failed: {explain(exc)}; jobs in flight "
                           "were released or are left to their leases (they expire within "
                           f"{self.config.lease_seconds:.0f}s): fix the cause, run `sweepq "
                           "check`, then `sweepq work` again")
            self.stopping.set()
        except Exception as exc:
            # A bug or a broken database: never absorbed in silence. Stop every thread,
            # exit non-zero; a job this thread held is released below or by its lease.
            self._set_exit(EXIT_INTERNAL, f"internal error in {owner}: "
                           f"{type(exc).__name__}: {exc}")
            self.stopping.set()

    def _work(self, owner: str) -> None:
        while not self.stopping.is_set():
            claimed_at = time.monotonic()
            job = self.queue.claim(self.sweep.name, owner, self.config.lease_seconds)
            if job is None:
                if not self._wait_for_work():
                    return
                continue
            with self._lock:
                self._in_flight[job.job_id] = owner
                self._sure_until[job.job_id] = claimed_at + self.config.lease_seconds
                self._lost.discard(job.job_id)
            try:
                self._run_job(job, owner)
            except LeaseLost:
                pass            # another worker holds it now: nothing of ours to write
            except BaseException:
                self._release_quietly(job.job_id, owner)
                raise
            finally:
                with self._lock:
                    self._in_flight.pop(job.job_id, None)
                    self._sure_until.pop(job.job_id, None)
                    self._lost.discard(job.job_id)
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
            return self._wait_out(pause)
        if self._only_batched_left():
            return False
        held = self.queue.held_back(self.sweep.name)
        if held and self.queue.unfinished_except(self.sweep.name, held) == 0:
            # Only arms waiting for a provider are left: wait for it (or exit 75).
            return self._wait_for_provider(_latest(held.values()), sorted(held))
        next_at = self.queue.next_available_at(self.sweep.name)
        delay = IDLE_POLL_SECONDS if next_at is None else next_at - self.queue.clock()
        # Woken early when a job of this process ends: the last one ending means exit now.
        with self._job_ended:
            if self._jobs_ended == ended_before and not self.stopping.is_set():
                self._job_ended.wait(min(max(delay, 0.05), IDLE_POLL_SECONDS))
        return True

    def _wait_for_provider(self, pause: Pause, arms: list[str]) -> bool:
        """Only arms held back by a provider's pause are left. A provider that ran out (an
        OpenAI quota, a Gemini per-day quota: hours) exits 75 at once naming the arms,
        unless --max-wait allows waiting for it; a shorter pause (a rate limit, an
        unreachable provider's probe) is waited out."""
        if pause.reason == "exhausted" and pause.resume_at is not None \
                and self.config.max_wait is None:
            self._set_exit(EXIT_TEMPFAIL, f"queue paused (exhausted) for {pause.scope} (arms "
                           f"{', '.join(arms)}) for {pause.resume_at - self.queue.clock():.0f}s"
                           " and nothing else is left: run `sweepq work` again after it ends "
                           "(or pass --max-wait to wait for it)")
            self.stopping.set()
            return False
        return self._wait_out(pause, arms)

    def _wait_out(self, pause: Pause, arms: list[str] | None = None) -> bool:
        """Sleep until the pause ends (waking to notice `sweepq resume`), or give up.

        `arms`: the arms a scoped pause holds back (all that is left to run)."""
        held = f" for {pause.scope} (arms {', '.join(arms)})" if arms else ""
        if pause.resume_at is None:
            # A fatal pause (bad key, unknown model) exits 2 in every thread and process
            # that meets it, not only in the one whose call failed.
            code = EXIT_FATAL if pause.reason == "fatal" else EXIT_TEMPFAIL
            self._set_exit(code, _until_resume(pause, held))
            self.stopping.set()
            return False
        remaining = pause.resume_at - self.queue.clock()
        if self.config.max_wait is not None and remaining > self.config.max_wait:
            self._set_exit(EXIT_TEMPFAIL, f"queue paused ({pause.reason}){held} for "
                           f"{remaining:.0f}s, longer than --max-wait; run `sweepq work` "
                           "again after it ends")
            self.stopping.set()
            return False
        self.stopping.wait(min(max(remaining, 0.0), PAUSE_POLL_SECONDS))
        return True

    def _run_job(self, job: Job, owner: str) -> None:
        task = self._task_of(job, owner)   # a broken row first: its counts mean nothing
        if task is None:
            return
        if job.attempts > job.max_attempts:
            # Reclaimed after its lease expired on the last attempt: the worker running it
            # died every time. A job that kills its workers must not be retried forever.
            self.queue.fail(job.job_id, owner, f"the worker died on each of its "
                            f"{job.max_attempts} attempts (lease expired)", "crash", final=True)
            return
        client = self.client_for(job)
        started = time.monotonic()
        try:
            output = self.arms[job.arm](task, client)
        except Deferred:
            return
        except CallFailed as exc:
            self._on_failure(job, owner, exc.failure)
            return
        except QueuePaused as paused:
            if paused.scope is not None:   # this arm needs what ran out: skip it until then
                self.queue.note_scope(self.sweep.name, job.arm, paused.scope)
            self.queue.release(job.job_id, owner)
            return
        except sqlite3.Error:   # the journal could not be written: the database, not the arm
            raise
        except Exception as exc:  # a bug in an arm: count the attempt, keep the message
            self.tally.failed_attempts += 1
            self.queue.fail(job.job_id, owner, f"arm {job.arm} raised "
                            f"{type(exc).__name__}: {exc}"[:500])
            return
        if not isinstance(output, str):  # an arm bug too: None must not score as a wrong answer
            self.tally.failed_attempts += 1
            self.queue.fail(job.job_id, owner,
                            f"arm {job.arm} returned {type(output).__name__}, not text")
            return
        wall = time.monotonic() - started
        try:   # no transaction is open: a sandboxed run of the code takes seconds
            passed, detail = scorers.run(self.scorer, output, task)  # the sweep's own scorer
        except SandboxError as exc:   # the machine failed, not the answer: an attempt
            self.tally.failed_attempts += 1
            self.queue.fail(job.job_id, owner, f"the sandbox could not run the code: {exc}")
            return
        if not passed:
            detail = no_answer(output, client.stop_reason_of(output)) or detail
        result = Result(passed=passed, detail=detail, wall_seconds=wall, sub_calls=client.calls,
                        output=output, usage=client.usage, models=client.models_used)
        if self.queue.complete(job.job_id, owner, result):
            with self._lock:
                self.tally.done += 1
                self.tally.passed += passed
                self._probe_wait = PROBE_FIRST_SECONDS

    def _task_of(self, job: Job, owner: str) -> Task | None:
        """The job's task; None when its row cannot be run (a payload a hand edit broke,
        counts out of range): then it is quarantined, in `error` with the reason in its
        trail and its attempt given back, and the sweep carries on without it."""
        defect = job.defect
        if defect is None:
            try:
                return Task.from_payload(job.task)
            except (KeyError, TypeError, ValueError) as exc:
                defect = f"its payload is not a task ({type(exc).__name__}: {exc})"
        self.queue.quarantine(job.job_id, owner, f"quarantined: {defect}"[:500])
        return None

    def models(self) -> dict[str, str]:
        """The sweep's model map as stored now, read per job: `sweepq models --force`
        mid-run reaches the next job of every worker, never the middle of one."""
        current = self.queue.sweep_models(self.sweep.name)
        return dict(self.sweep.models if current is None else current)

    def client_for(self, job: Job) -> JobClient:
        """The client one attempt of `job` runs its arm with (the batch runner's defers)."""
        return JobClient(self.queue, job, self.backend, self.models(),
                         governor=self.governor, stopping=self.stopping,
                         lease=lambda: self.hold(job.job_id, job.lease_owner))

    def hold(self, job_id: int, owner: str) -> None:
        """Raise LeaseLost unless this worker's lease on the job is live now.

        A heartbeat that found the job taken back ends it. Past the monotonic time the
        lease was last surely extended (the process stalled: SIGSTOP, a laptop asleep,
        swapping), the lease is renewed first, which succeeds only while nobody took the
        job: a stalled worker never calls on a lease another worker may already be using.
        """
        with self._lock:
            lost = job_id in self._lost
            sure_until = self._sure_until.get(job_id, 0.0)
        if lost:
            raise LeaseLost(f"job {job_id}: a heartbeat found it taken back")
        if time.monotonic() < sure_until - self.config.lease_seconds / 2:
            return
        self._extend(job_id, owner)
        with self._lock:
            if job_id in self._lost:
                raise LeaseLost(f"job {job_id}: its lease ran out and was taken back")

    def _on_failure(self, job: Job, owner: str, failure: Failure) -> None:
        """Exhaustion and rate limits pause everyone; fatal stops the run; else count it."""
        if failure.kind in ("interrupted", "transient") and self._stopped_it(failure):
            # The worker's Ctrl-C or SIGTERM reached the call too: not the job's failure.
            self.queue.release(job.job_id, owner, failure.kind, failure.message)
        elif failure.kind in ("exhausted", "rate_limited"):
            # A provider's exhaustion (pause_scope) holds back only the arms that call it.
            self.queue.pause(failure.resume_at, failure.kind, failure.message, set_by=owner,
                             scope=failure.pause_scope)
            if failure.pause_scope is not None:
                self.queue.note_scope(self.sweep.name, job.arm, failure.pause_scope)
            self.queue.release(job.job_id, owner, failure.kind, failure.message)
        elif failure.kind == "unreachable":
            self._on_unreachable(job, owner, failure)
        elif failure.kind == "fatal" and failure.scope == "run":
            # Every worker of every process must stop: the same call fails for all of them.
            message = failure.message.replace("--sweep SWEEP", f"--sweep {self.sweep.name}")
            self.queue.pause(None, "fatal", message, set_by=owner)
            self.queue.release(job.job_id, owner, failure.kind, message)
            self._set_exit(EXIT_FATAL, f"{message}; fix it, then run `sweepq resume`")
            self.stopping.set()
        else:
            # Counted by the breaker too: the same failure across many jobs pauses the queue.
            self.tally.failed_attempts += 1
            self.queue.fail(job.job_id, owner, failure.message, failure.kind,
                            final=failure.kind == "fatal",
                            signature=self.breaker_signature(job, failure))

    def _stopped_it(self, failure: Failure) -> bool:
        """The call failed because this worker is stopping (its children share its
        signals). An interruption waits a moment for the worker's own signal: when none
        comes, the CLI alone was stopped (killed, crashed) and the attempt counts."""
        if failure.kind == "interrupted":
            return self.stopping.wait(SIGNAL_ARRIVAL_SECONDS)
        return self.stopping.is_set()

    def _only_batched_left(self) -> bool:
        """Every unfinished job has a call in a message batch still processing: a live
        worker may never take them (they are paid for), so waiting would be for ever if
        no batch runner is left. Exit 75 saying who collects them."""
        batched = self.queue.in_open_batches(self.sweep.name)
        if not batched or self.queue.unfinished(self.sweep.name) != batched:
            return False
        self._set_exit(EXIT_TEMPFAIL, f"{batched} jobs wait on message batches still "
                       "processing; `sweepq work --backend batch` collects them")
        self.stopping.set()
        return True

    def breaker_signature(self, job: Job, failure: Failure) -> str | None:
        """What the breaker counts this failure as (None: not counted)."""
        return signature(failure)

    def _on_unreachable(self, job: Job, owner: str, failure: Failure) -> None:
        """No request got through: the job is given back uncharged either way.

        Before this process has finished a job, that is a wrong address or no network
        at all: stop at once (exit 2) rather than wait on a typo. Later, the network
        went away mid-sweep: pause the queue and probe again after 5 s, doubling up to
        5 minutes, so the sweep carries on by itself once calls get through.
        """
        self.queue.release(job.job_id, owner, failure.kind, failure.message)
        if self.tally.done == 0:
            self._set_exit(EXIT_FATAL, f"{failure.message}; check the network and that "
                           f"address ({_address_setting(failure.pause_scope)}), then run "
                           "`sweepq work` again")
            self.stopping.set()
            return
        if self.queue.active_pause(failure.pause_scope) is not None:
            return                       # another thread's probe pause already stands
        with self._lock:
            wait, self._probe_wait = self._probe_wait, min(2 * self._probe_wait,
                                                           PROBE_MAX_SECONDS)
        self.queue.pause(self.queue.clock() + wait, "unreachable", failure.message,
                         set_by=owner, scope=failure.pause_scope)
        if failure.pause_scope is not None:      # another vendor: only its arms wait
            self.queue.note_scope(self.sweep.name, job.arm, failure.pause_scope)

    def _set_exit(self, code: int, message: str) -> None:
        with self._lock:
            if self._exit is None or (self._exit[0] == EXIT_OK and code != EXIT_OK):
                self._exit = (code, message)

    # -- leases ---------------------------------------------------------------

    def _heartbeat(self) -> None:
        """Extend the lease of every job in flight, a few times per lease period."""
        interval = max(self.config.lease_seconds / 4, 0.2)
        while not self._finished.wait(interval):
            with self._lock:
                held = list(self._in_flight.items())
            for job_id, owner in held:
                try:
                    self._extend(job_id, owner)
                except sqlite3.Error:   # the job's thread meets the same failure and says so
                    break

    def _extend(self, job_id: int, owner: str) -> None:
        """One heartbeat: the lease surely holds a lease period from before it was sent;
        a heartbeat refused (the job taken back) marks the job lost, and its chain stops
        before its next call."""
        sent_at = time.monotonic()
        ok = self.queue.heartbeat(job_id, owner, self.config.lease_seconds)
        with self._lock:
            if not ok:
                self._lost.add(job_id)
            elif job_id in self._in_flight:
                self._sure_until[job_id] = sent_at + self.config.lease_seconds


def _address_setting(scope: str | None) -> str:
    """Where the address an unreachable provider was called at comes from."""
    if scope is None or scope.startswith("claude"):
        return "ANTHROPIC_BASE_URL, or the model map's"
    if scope.startswith("local@"):
        return f"the model map's {scope.removeprefix('local@')}"
    return f"{scope.upper()}_BASE_URL, or the model map's"


def _latest(pauses: Iterable[Pause]) -> Pause:
    """The pause that ends last (no end beats any end)."""
    return max(pauses, key=lambda p: math.inf if p.resume_at is None else p.resume_at)


def _until_resume(pause: Pause, held: str = "") -> str:
    """The exit message for a pause only `sweepq resume` ends: what, and what to do."""
    detail = f"{held}: {pause.message}" if pause.message else held
    if pause.reason == "fatal":
        return f"{pause.message or 'fatal error'}; fix it, then run `sweepq resume`"
    if pause.reason == "unrecognised":
        return (f"queue paused (unrecognised){detail}; the same failure ended {BREAKER_JOBS} "
                "jobs in a row (their attempts were not charged); find the cause, then run "
                "`sweepq resume`")
    return (f"queue paused ({pause.reason}){detail}; fix the cause (add credit, fix the key), "
            "then run `sweepq resume`")


def no_answer(output: str, stop_reason: str | None) -> str | None:
    """The detail for a reply that holds no answer to score, from why the model stopped.

    A refusal, an empty reply and a reply cut off at max_tokens are still not
    passes, but a reader must be able to tell them from a wrong answer.
    """
    if stop_reason == "refusal":
        return stats.REFUSAL
    if not output.strip():
        return stats.EMPTY_REPLY
    if stop_reason == "max_tokens":
        return stats.CUT_OFF
    return None
