"""One job's run and what each outcome does: the piece the live worker and the batch
runner are both built from.

`JobRunner.run_job` takes a claimed job: a row that cannot run is quarantined, one
whose workers died on every attempt ends in `error`, else one attempt
(`attempt.attempt`) runs its arm through a client and the outcome is acted on here:
a result completes the job, a failure follows the failure policy (docs/ARCHITECTURE.md,
"What a failure does"), a pause releases it. The runner also owns the run's exit code,
its stop flag, the jobs it holds (`held.HeldJobs`) and the waiting out of a pause.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

from . import scorers
from .arms import Arm
from .attempt import DEFERRED, Broken, Completed, Failed, Paused, attempt
from .backends import Backend
from .failures import Failure, signature
from .governor import Governor
from .held import HeldJobs
from .models import JobClient
from .queue import BREAKER_JOBS, Job, Pause, Queue, Sweep
from .runconfig import EXIT_FATAL, EXIT_OK, EXIT_TEMPFAIL, Outcome, Tally, WorkerConfig
from .task import Task

PAUSE_POLL_SECONDS = 1.0    # how often a paused worker looks for `sweepq resume`
PROBE_FIRST_SECONDS = 5.0   # an unreachable API is tried again after this pause,
PROBE_MAX_SECONDS = 300.0   # doubled each time it is still unreachable, up to this
# A Ctrl-C reaches the CLI child and this process together; the child may report first.
# An interrupted call waits this long for the worker's own stop before counting.
SIGNAL_ARRIVAL_SECONDS = 1.0


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def on_stop_signals(stop: Callable[[], None]) -> None:
    """Call `stop` on SIGINT, SIGTERM and SIGHUP (the one place that lists them)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda *_: stop())


def ignore_stop_signals() -> None:
    """Once a run has ended, ignore the stop signals: there is nothing left to stop, and
    the interpreter's shutdown puts back the default action of every Python handler, so a
    second SIGTERM sent right after the first (the run ended at the first) would kill
    the process during its exit (-15) instead of letting it exit with its code."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


class JobRunner:
    """Runs claimed jobs of one sweep and applies the failure policy to each outcome."""

    def __init__(self, queue: Queue, sweep: Sweep, arms: dict[str, Arm],
                 backend: Backend | None, config: WorkerConfig,
                 client_for: Callable[[Job], JobClient] | None = None) -> None:
        """`client_for` builds the client an attempt runs with (default: a live
        `JobClient` on `backend`; the batch runner's replays and defers)."""
        self.queue, self.sweep, self.arms, self.backend = queue, sweep, arms, backend
        self.config = config
        self.scorer = scorers.get(sweep.scorer)
        self.tally = Tally()
        self.stopping = threading.Event()       # stop claiming
        self.held = HeldJobs(queue, config.lease_seconds)
        self.governor = Governor(queue, config.worker_name) if config.governor else None
        self.client_for = client_for or self.live_client
        self.uncounted: set[int] = set()        # jobs whose next failure the breaker skips
        self._lock = threading.Lock()
        self._exit: tuple[int, str] | None = None
        self._probe_wait = PROBE_FIRST_SECONDS

    # -- the exit code ------------------------------------------------------------

    def set_exit(self, code: int, message: str) -> None:
        """The run's exit: the first one set, unless a failure comes after a clean stop."""
        with self._lock:
            if self._exit is None or (self._exit[0] == EXIT_OK and code != EXIT_OK):
                self._exit = (code, message)

    def stop_with(self, code: int, message: str) -> None:
        """Set the exit and stop claiming."""
        self.set_exit(code, message)
        self.stopping.set()

    def outcome(self) -> Outcome:
        code, message = self._exit or (EXIT_OK, "")
        return Outcome(code, message, self.tally)

    # -- one job --------------------------------------------------------------------

    def run_job(self, job: Job, owner: str) -> None:
        """Run one claimed job and act on what came of it. LeaseLost propagates."""
        task = self.task_of(job, owner)   # a broken row first: its counts mean nothing
        if task is None:
            return
        if job.attempts > job.max_attempts:
            # Reclaimed after its lease expired on the last attempt: the worker running it
            # died every time. A job that kills its workers must not be retried forever.
            self.queue.fail(job.job_id, owner, f"the worker died on each of its "
                            f"{job.max_attempts} attempts (lease expired)", "crash", final=True)
            return
        client = self.client_for(job)
        result = attempt(job.arm, self.arms[job.arm], task, client, self.scorer)
        if result == DEFERRED:
            return
        if isinstance(result, Failed):
            self.on_failure(job, owner, result.failure)
        elif isinstance(result, Paused):
            if result.scope is not None:   # this arm needs what ran out: skip it until then
                self.queue.note_scope(self.sweep.name, job.arm, result.scope)
            self.queue.release(job.job_id, owner)
        elif isinstance(result, Broken):
            self.tally.failed_attempts += 1
            self.queue.fail(job.job_id, owner, result.message)
        elif isinstance(result, Completed) and self.queue.complete(job.job_id, owner,
                                                                   result.result):
            with self._lock:
                self.tally.done += 1
                self.tally.passed += result.result.passed
                self._probe_wait = PROBE_FIRST_SECONDS

    def task_of(self, job: Job, owner: str) -> Task | None:
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

    def live_client(self, job: Job) -> JobClient:
        """The client one attempt of `job` runs its arm with, calling `backend` live."""
        return JobClient(self.queue, job, self.backend, self.models(),  # type: ignore[arg-type]
                         governor=self.governor, stopping=self.stopping,
                         lease=lambda: self.held.hold(job.job_id, job.lease_owner))

    # -- the failure policy -------------------------------------------------------

    def on_failure(self, job: Job, owner: str, failure: Failure) -> None:
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
        elif failure.kind == "fatal" and failure.reach == "run":
            # Every worker of every process must stop: the same call fails for all of them.
            message = failure.message.replace("--sweep SWEEP", f"--sweep {self.sweep.name}")
            self.queue.pause(None, "fatal", message, set_by=owner)
            self.queue.release(job.job_id, owner, failure.kind, message)
            self.stop_with(EXIT_FATAL, f"{message}; fix it, then run `sweepq resume`")
        else:
            # Counted by the breaker too: the same failure across many jobs pauses the queue.
            self.tally.failed_attempts += 1
            self.queue.fail(job.job_id, owner, failure.message, failure.kind,
                            final=failure.kind == "fatal",
                            signature=self._breaker_signature(job, failure))

    def _breaker_signature(self, job: Job, failure: Failure) -> str | None:
        """What the breaker counts this failure as (None: not counted: a job in
        `uncounted`, once, as the batch runner marks an errored result whose batch had
        successes)."""
        if job.job_id in self.uncounted:
            self.uncounted.discard(job.job_id)
            return None
        return signature(failure)

    def _stopped_it(self, failure: Failure) -> bool:
        """The call failed because this worker is stopping (its children share its
        signals). An interruption waits a moment for the worker's own signal: when none
        comes, the CLI alone was stopped (killed, crashed) and the attempt counts."""
        if failure.kind == "interrupted":
            return self.stopping.wait(SIGNAL_ARRIVAL_SECONDS)
        return self.stopping.is_set()

    def _on_unreachable(self, job: Job, owner: str, failure: Failure) -> None:
        """No request got through: the job is given back uncharged either way.

        Before this process has finished a job, that is a wrong address or no network
        at all: stop at once (exit 2) rather than wait on a typo. Later, the network
        went away mid-sweep: pause the queue and probe again after 5 s, doubling up to
        5 minutes, so the sweep carries on by itself once calls get through.
        """
        self.queue.release(job.job_id, owner, failure.kind, failure.message)
        if self.tally.done == 0:
            self.stop_with(EXIT_FATAL, f"{failure.message}; check the network and that "
                           f"address ({_address_setting(failure.pause_scope)}), then run "
                           "`sweepq work` again")
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

    # -- waiting out a pause ------------------------------------------------------

    def wait_for_provider(self, pause: Pause, arms: list[str]) -> bool:
        """Only arms held back by a provider's pause are left. A provider that ran out (an
        OpenAI quota, a Gemini per-day quota: hours) exits 75 at once naming the arms,
        unless --max-wait allows waiting for it; a shorter pause (a rate limit, an
        unreachable provider's probe) is waited out."""
        if pause.reason == "exhausted" and pause.resume_at is not None \
                and self.config.max_wait is None:
            self.stop_with(EXIT_TEMPFAIL, f"queue paused (exhausted) for {pause.scope} (arms "
                           f"{', '.join(arms)}) for {pause.resume_at - self.queue.clock():.0f}s"
                           " and nothing else is left: run `sweepq work` again after it ends "
                           "(or pass --max-wait to wait for it)")
            return False
        return self.wait_out(pause, arms)

    def wait_out(self, pause: Pause, arms: list[str] | None = None) -> bool:
        """Sleep until the pause ends (waking to notice `sweepq resume`), or give up:
        False when the run should end.

        `arms`: the arms a scoped pause holds back (all that is left to run)."""
        held = f" for {pause.scope} (arms {', '.join(arms)})" if arms else ""
        if pause.resume_at is None:
            # A fatal pause (bad key, unknown model) exits 2 in every thread and process
            # that meets it, not only in the one whose call failed.
            code = EXIT_FATAL if pause.reason == "fatal" else EXIT_TEMPFAIL
            self.stop_with(code, _until_resume(pause, held))
            return False
        remaining = pause.resume_at - self.queue.clock()
        if self.config.max_wait is not None and remaining > self.config.max_wait:
            self.stop_with(EXIT_TEMPFAIL, f"queue paused ({pause.reason}){held} for "
                           f"{remaining:.0f}s, longer than --max-wait; run `sweepq work` "
                           "again after it ends")
            return False
        self.stopping.wait(min(max(remaining, 0.0), PAUSE_POLL_SECONDS))
        return True


def _address_setting(scope: str | None) -> str:
    """Where the address an unreachable provider was called at comes from."""
    if scope is None or scope.startswith("claude"):
        return "ANTHROPIC_BASE_URL, or the model map's"
    if scope.startswith("local@"):
        return f"the model map's {scope.removeprefix('local@')}"
    return f"{scope.upper()}_BASE_URL, or the model map's"


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
