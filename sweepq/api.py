"""sweepq from Python: `sweepq.open("sweepq.db")`, then what the commands do, as methods.

Why: a notebook user reached into `Queue.open_for_reading` and `report.summary`; peers
hand researchers dataframes. `Database` is that surface: enqueue, work, status, summary,
export, the sweep list, and every result or call of a sweep as a pandas dataframe
(pandas comes with `datasets`). The CLI's enqueue, status, summary, export and sweeps
call the same functions, so the two cannot drift. Imports stay inside the functions:
`import sweepq` must not pay for the SDKs, `datasets` or pandas.

    import sweepq
    s = sweepq.open("sweepq.db")
    s.enqueue("pilot", subtasks=["navigate"], n_per_subtask=20,
              arms=["haiku-only", "echo-judge"], dataset="../shared/bbh")
    s.work("pilot", concurrency=16)
    s.results_df("pilot").groupby("arm").passed.mean()
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import storetext
from .errors import SweepqError
from .queue import Queue
from .records import Sweep

if TYPE_CHECKING:
    import pandas

    from .runconfig import Outcome

QueueFor = Callable[[bool], "Queue | None"]   # create? -> the queue (None: no database yet)


@dataclass
class Enqueued:
    """What `enqueue` did: jobs added, jobs in all, the sweep as stored (grown or not),
    tasks loaded, and the subtasks that had fewer than n tasks (name -> how many)."""

    sweep: Sweep
    new: int
    total: int
    tasks: int
    grown: bool = False
    short: dict[str, int] = field(default_factory=dict)


def enqueue(queue_for: QueueFor, name: str, *, subtasks: Iterable[str] = (),
            n_per_subtask: int | None = None, arms: Iterable[str], start: int = 0,
            dataset: str | os.PathLike[str] | None = None,
            models: Mapping[str, str] | Iterable[str] = (), max_attempts: int = 3,
            arms_module: str | None = None,
            prompts: Iterable[str] = (), scorer: str = "sweepq", benchmark: str = "bbh",
            options: Mapping[str, Any] | None = None) -> Enqueued:
    """Add every (task, arm) of a sweep as a pending job; an existing sweep may grow by more
    arms, subtasks or a larger n (exactly the jobs it lacks are added). `benchmark` names a
    plug-in (`sweepq.benchmarks`: bbh, mmlu-pro, humaneval, jsonl, csv, hf, or an entry
    point); `subtasks` is its selection (`all`: everything) and `options` its own options.
    Every refusal comes before the database is written (or created)."""
    from . import arm_registry, benchmarks, bounds, growth, scorers
    from .models import parse_model_map
    from .prompts import DEFAULT_NAME, sets_from_options
    from .records import check_sweep_name

    check_sweep_name(name)
    bounds.count("max_attempts", max_attempts, 1, bounds.MAX_ATTEMPTS)
    scorers.get(scorer)  # an unknown name is refused before anything else
    bench = benchmarks.get(benchmark)
    bench_options = benchmarks.check_options(bench, options or {})
    arm_list = [a.strip() for a in arms if a.strip()]
    prompt_sets = sets_from_options(tuple(prompts))
    pairs = tuple(f"{k}={v}" for k, v in models.items()) if isinstance(models, Mapping) \
        else tuple(models)
    model_map = parse_model_map(pairs)
    arm_registry.check_models(arm_registry.validate(arm_list, arms_module, prompt_sets), model_map)
    subtask_list = bench.groups([s.strip() for s in subtasks if s.strip()], bench_options)
    given = Sweep(name=name, arms=arm_list, benchmark=bench.name, subtasks=subtask_list,
                  n_per_subtask=n_per_subtask, start=start, models=model_map,
                  dataset=None if dataset is None else str(dataset), scorer=scorer,
                  prompts=prompt_sets, options=bench_options)
    queue = queue_for(False)
    existing = None if queue is None else queue.sweep(name)
    sweep = given if existing is None else growth.merged(existing, given)
    wanted = sweep.n_per_subtask or n_per_subtask
    tasks = bench.load(benchmarks.Selection(tuple(sweep.subtasks), wanted, start,
                                            sweep.dataset, sweep.options))
    default = (sweep.prompts or prompt_sets)[DEFAULT_NAME]
    # The payload keeps the question and options, which jobs render with their arm's
    # stored set; its `prompt` is the default set's rendering, for reading in sqlite3.
    payloads = ((t.task_id, {**t.payload(), "prompt": benchmarks.render(t, default)})
                for t in tasks)
    queue = queue_for(True)
    assert queue is not None
    new = queue.enqueue(sweep, payloads, max_attempts)
    have: dict[str, int] = {}
    for task in tasks:
        have[task.subtask] = have.get(task.subtask, 0) + 1
    return Enqueued(sweep=sweep, new=new, total=sum(queue.counts(name).values()),
                    tasks=len(tasks), grown=existing is not None and sweep != existing,
                    short={s: have.get(s, 0) for s in sweep.subtasks
                           if wanted is not None and have.get(s, 0) < wanted})


def work(queue: Queue, sweep: str | None = None, *, concurrency: int = 8,
         lease_seconds: float = 120.0, max_wait: float | None = None, backend: str = "api",
         claude_bin: str = "claude", call_timeout: float = 120.0,
         arms_module: str | None = None, governor: bool = True, cache: str = "5m",
         max_attempts: int | None = None,
         on_tick: Callable[[], None] | None = None,
         signals: bool = False) -> Outcome:
    """Run workers until the sweep has nothing pending or running: what `sweepq work`
    does, without its display. `max_attempts` changes the attempts allowed for the
    sweep's unfinished jobs first; `on_tick` is called about twice a second while it
    runs (the batch runner then runs in a thread, this one ticking and taking signals).

    The outcome's `exit_code` is the command's, `finished`'s rule included; it also
    says how many threads a signal left stranded and how many batch rounds ran."""
    from .jobrun import ignore_stop_signals
    from .worker import WorkerConfig

    config = WorkerConfig(concurrency=concurrency, lease_seconds=lease_seconds,
                          max_wait=max_wait, governor=governor, cache=cache)
    found = queue.resolve_sweep(sweep)
    known = arms_for(found, arms_module)
    if max_attempts is not None:
        queue.set_max_attempts(found.name, max_attempts)
    if backend == "batch":
        runner = make_batch_runner(queue, found, known, config, call_timeout)
        if signals:
            runner.install_signal_handlers()
        outcome = _ticking(runner.run, on_tick)
        if signals:
            ignore_stop_signals()
        return finished(queue, found.name, replace(outcome, rounds=runner.rounds))
    worker = make_worker(queue, found, known, config, backend, claude_bin, call_timeout)
    if signals:
        worker.install_signal_handlers()
    outcome = worker.run(on_tick=on_tick)
    if signals:
        ignore_stop_signals()
    return finished(queue, found.name, replace(outcome, stranded=worker.stranded))


def finished(queue: Queue, sweep: str, outcome: Outcome) -> Outcome:
    """The exit-code rule of `work`: a sweep that ran out of work with jobs in `error` is
    not finished: exit 3 (EXIT_INCOMPLETE), so that `sweepq work && sweepq export` never
    exports a sweep with holes in it unawares."""
    from . import fmt
    from .runconfig import EXIT_INCOMPLETE

    if outcome.exit_code or outcome.message:
        return outcome
    errors = queue.counts(sweep)["error"]
    if not errors:
        return outcome
    return replace(outcome, exit_code=EXIT_INCOMPLETE, message=(
        f"{fmt.count(errors, 'job')} ended in error: see their errors with `sweepq status`, "
        "send them back with `sweepq retry`"))


def _ticking(run: Callable[[], Outcome], on_tick: Callable[[], None] | None) -> Outcome:
    """`run()` with `on_tick` called beside it: the batch runner waits minutes in one
    call, so it runs in a thread while this one (which gets the signals) ticks."""
    import threading

    if on_tick is None:
        return run()
    outcome: list[Outcome] = []
    thread = threading.Thread(target=lambda: outcome.append(run()), name="sweepq-batch",
                              daemon=True)
    thread.start()
    while thread.is_alive():
        on_tick()
        thread.join(0.5)
    return outcome[0]


def arms_for(sweep: Sweep, arms_module: str | None = None) -> dict[str, Any]:
    """The sweep's arms, each bound to its stored prompt set and the sweep's scorer."""
    from . import arm_registry, scorers

    return arm_registry.for_sweep(sweep.arms, sweep.prompts, arms_module,
                              scorer=scorers.judging(scorers.get(sweep.scorer)))


def make_batch_runner(queue: Queue, sweep: Sweep, known: dict[str, Any], config: Any,
                      call_timeout: float) -> Any:
    """`work --backend batch`'s runner: rounds of Message Batches through the SDK."""
    from .backends import AnthropicBackend
    from .batch import BatchRunner

    return BatchRunner(queue, sweep, known, AnthropicBackend(call_timeout).client, config)


def make_worker(queue: Queue, sweep: Sweep, known: dict[str, Any], config: Any,
                backend: str, claude_bin: str, call_timeout: float) -> Any:
    """A live `Worker` on the Anthropic API or the Claude CLI; other vendors' model ids go
    to their SDKs (imported only when the sweep's map names them)."""
    from .backends import AnthropicBackend, ClaudeCliBackend
    from .vendors.router import RouterBackend
    from .worker import Worker

    claude = (ClaudeCliBackend(claude_bin, call_timeout, cli_style(sweep))
              if backend == "claude-cli"
              else AnthropicBackend(call_timeout, max_connections=config.concurrency * 2))
    claude.cache_ttl = config.cache   # prompt caching: the API's breakpoint (caching.py)
    model_backend = RouterBackend(claude)   # openai:/gemini:/local: ids to their vendors
    model_backend.prepare(sweep.models.values())
    return Worker(queue, sweep, known, model_backend, config)


def cli_style(sweep: Sweep) -> tuple[str, str]:
    """How the sweep's prompt sets ask the Claude CLI to be called: one way per sweep."""
    from .prompts import default_set
    from .transport import one_style

    sets = sweep.prompts or {"default": default_set()}
    try:
        return one_style([ps.transport.cli_style for ps in sets.values()])
    except ValueError as exc:
        raise SweepqError(f"the sweep's prompt sets ask the Claude CLI for different "
                          f"transports ({exc}): one `work --backend claude-cli` calls it "
                          "one way; give them the same cli_prompt and cli_reply") from None


def export(queue: Queue, sweep: str | None, path: str | os.PathLike[str],
           order: str = "completion", include_errors: bool = False,
           scorer: str | None = None) -> int:
    """Write the historical JSONL (`-`: stdout); the number of result rows written.
    `scorer`: whose verdicts (default the sweep's own; another needs a `rescore`)."""
    from . import jsonl
    from .atomicfile import atomic_output
    from .rescore import scoring_of

    found = queue.resolve_sweep(sweep)
    scoring = scoring_of(queue, found, scorer)
    with atomic_output(str(path)) as out:
        return jsonl.export(queue, found, out, order=order, include_errors=include_errors,
                            scoring=scoring)


_RESULTS = """
    SELECT j.job_id, j.task_id, j.arm, j.position, r.passed, r.detail, r.wall_seconds,
           r.sub_calls, r.output, r.input_tokens, r.output_tokens, r.cache_read_tokens,
           r.cache_write_tokens, r.cost_usd, r.models, r.completed_at, r.completion_seq
    FROM results AS r JOIN jobs AS j USING (job_id) WHERE j.sweep = ? ORDER BY j.position"""

_CALLS = """
    SELECT j.task_id, j.arm, c.job_id, c.attempt, c.call_index, c.model, c.input_tokens,
           c.output_tokens, c.cache_read_tokens, c.cache_write_tokens, c.cost_usd,
           c.latency_seconds, c.stop_reason, c.error_class, c.error, c.response_text,
           c.created_at
    FROM calls AS c JOIN jobs AS j USING (job_id) WHERE j.sweep = ?
    ORDER BY j.position, c.attempt, c.call_index"""


def _frame(queue: Queue, sql: str, sweep: str) -> pandas.DataFrame:
    """The rows as a frame, every text as it came (`storetext.load`), as `export` gives it:
    a reply holding a lone surrogate is stored escaped, and a frame showing the escape
    would disagree with the export of the same row. Stored text is always valid UTF-8,
    so the frame builds with pandas' own string type; only a column holding an escape is
    rebuilt, as Python objects (Arrow-backed strings cannot hold a lone surrogate)."""
    import pandas

    cursor = queue.conn.execute(sql, (sweep,))
    frame = pandas.DataFrame.from_records(cursor.fetchall(),
                                          columns=[d[0] for d in cursor.description])
    for column in frame.columns:
        values = frame[column]
        if _holds_escape(values):
            frame[column] = pandas.Series(
                [storetext.load(v) if isinstance(v, str) else v for v in values.tolist()],
                index=frame.index, dtype=object)
    return frame


def _holds_escape(values: pandas.Series) -> bool:
    """Whether a column holds text `storetext` escaped (one vectorised scan per column)."""
    try:
        hits = values.str.contains(storetext.ESCAPE, regex=False, na=False)
    except AttributeError:        # not a text column (numbers, nulls)
        return False
    return bool(hits.any())


def _with_task_columns(frame: pandas.DataFrame) -> pandas.DataFrame:
    """`bbh/navigate/3` -> subtask `navigate`, index 3 (beside task_id, for groupby)."""
    parts = frame["task_id"].str.rsplit("/", n=2, expand=True)
    if frame.empty or parts.shape[1] < 3:
        frame.insert(2, "subtask", None)
        frame.insert(3, "index", None)
        return frame
    frame.insert(2, "subtask", parts[1])
    frame.insert(3, "index", frame["task_id"].str.rsplit("/", n=1).str[-1]
                 .where(parts[2].str.isdigit()).astype("Int64"))
    return frame


def results_df(queue: Queue, sweep: str | None = None) -> pandas.DataFrame:
    """One row per result of the sweep, in canonical order: job_id, task_id, subtask,
    index, arm, position, passed (bool), detail, wall_seconds, sub_calls, output, tokens,
    cost_usd, models, completed_at, completion_seq."""
    found = queue.resolve_sweep(sweep)
    frame = _frame(queue, _RESULTS, found.name)
    frame["passed"] = frame["passed"].astype(bool)
    return _with_task_columns(frame)


def calls_df(queue: Queue, sweep: str | None = None) -> pandas.DataFrame:
    """One row per journaled model call of the sweep: task_id, subtask, index, arm, job_id,
    attempt, call_index, model, tokens, cost_usd, latency_seconds, stop_reason, error_class,
    error, response_text, created_at."""
    found = queue.resolve_sweep(sweep)
    return _with_task_columns(_frame(queue, _CALLS, found.name))


class Database:
    """A sweepq database, opened by `sweepq.open(path)`; every method is one command.

    Reads open it as the reading commands do (a read-only file still reads); the first
    write opens it for writing (enqueue creates it).
    """

    def __init__(self, path: str | os.PathLike[str] = "sweepq.db"):
        self.path = str(path)
        self._reader: Queue | None = None
        self._writer: Queue | None = None

    def __repr__(self) -> str:
        return f"sweepq.open({self.path!r})"

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for queue in (self._reader, self._writer):
            if queue is not None:
                queue.close()
        self._reader = self._writer = None

    def _read(self) -> Queue:
        if self._writer is not None:
            return self._writer
        if self._reader is None:
            self._reader = Queue.open_for_reading(self.path)
        return self._reader

    def _write(self, create: bool = True) -> Queue | None:
        if self._writer is None:
            if not create and not Path(self.path).exists():
                return None
            self._writer = Queue.open(self.path, create=True)
        return self._writer

    def enqueue(self, sweep: str, *, subtasks: Iterable[str] | str = (),
                n_per_subtask: int | None = None, arms: Iterable[str] | str,
                **options: Any) -> Enqueued:
        """`sweepq enqueue`: options start, dataset, models ({alias: id}), max_attempts,
        arms_module, prompts (["FILE", "NAME=FILE"]), scorer, benchmark (default bbh) and
        options (the benchmark's own: {"split": "validation"}, {"field": {...}})."""
        return enqueue(lambda create: self._write(create), sweep,
                       subtasks=_listed(subtasks), n_per_subtask=n_per_subtask,
                       arms=_listed(arms), **options)

    def work(self, sweep: str | None = None, **options: Any) -> Outcome:
        """`sweepq work` (options as its flags: concurrency, backend, max_wait seconds, …)."""
        queue = self._write()
        assert queue is not None
        return work(queue, sweep, **options)

    def sweeps(self) -> list[dict[str, Any]]:
        """`sweepq sweeps --json`."""
        from . import listing

        return listing.sweeps(self._read())

    def status(self, sweep: str | None = None) -> dict[str, Any]:
        """`sweepq status --json` (keys in `sweepq.report`)."""
        from . import report

        queue = self._read()
        return report.status(queue, queue.resolve_sweep(sweep))

    def summary(self, sweep: str | None = None, baseline: str | None = None) -> dict[str, Any]:
        """`sweepq summary --json`: pass rates, intervals, costs, McNemar against `baseline`."""
        from . import report

        queue = self._read()
        return report.summary(queue, queue.resolve_sweep(sweep), baseline)

    def export(self, path: str | os.PathLike[str], sweep: str | None = None,
               order: str = "completion", include_errors: bool = False) -> int:
        """`sweepq export`: the historical JSONL; returns the rows written."""
        return export(self._read(), sweep, path, order, include_errors)

    def results_df(self, sweep: str | None = None) -> pandas.DataFrame:
        """Every result of the sweep as a dataframe (see `sweepq.api.results_df`)."""
        return results_df(self._read(), sweep)

    def calls_df(self, sweep: str | None = None) -> pandas.DataFrame:
        """Every journaled model call of the sweep as a dataframe."""
        return calls_df(self._read(), sweep)


def _listed(value: Iterable[str] | str) -> list[str]:
    """`"a,b"` or `["a", "b"]`: the command line's comma lists work here too."""
    return [p.strip() for p in value.split(",")] if isinstance(value, str) else list(value)
