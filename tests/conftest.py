"""Fixtures shared by the test files: paths, a fake API on loopback, the CLI."""

from __future__ import annotations

import atexit
import gc
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from sweepq.fake import FakeAPI, FakeConfig

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared"
# Copies in tests/data, so the tests that need real files run on every clone: the first
# examples of each BBH subtask (tests/data/bbh/README.md) and the old runner's results.
BBH_DIR = DATA / "bbh"
ECHO_RESULTS = DATA / "echo-results"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# `datasets` keeps a processed copy of every file it loads: the tests' copies go to a
# folder of this process under TMPDIR (tmpfs under `make test`), removed at exit, not into
# the user's ~/.cache, where they piled up and each load waited for the disk.
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="sweepq-tests-datasets-")
atexit.register(shutil.rmtree, os.environ["HF_DATASETS_CACHE"], ignore_errors=True)
if "datasets" in sys.modules:   # imported before this process began (tests/forkserver.py)
    sys.modules["datasets"].config.HF_DATASETS_CACHE = Path(os.environ["HF_DATASETS_CACHE"])

# xdist's workers are forked from a process that imported the SDKs once (its docstring).
pytest_plugins = ("forkserver",)


# A property test names its examples at full strength (`max_examples=examples(300)`).
# `make test` runs the "fast" profile, a third of that (Hypothesis' default 100 becomes 34):
# the property tests were a quarter of the fast suite's CPU. `make test-slow`, and so CI,
# runs every one of them again at full strength (`-m "slow or hypothesis"`).
hypothesis_settings.register_profile("fast", max_examples=34)


def examples(n: int) -> int:
    """`n`, a property test's number of examples at full strength, in the profile run."""
    return max(n * hypothesis_settings.default.max_examples // 100, 10)


def shared(name: str) -> Path:
    """`../shared/NAME`, which CI always has: a test that reads it fails, never skips,
    when it is missing, so a check on the full data cannot vanish unnoticed."""
    path = SHARED / name
    assert path.exists(), f"{path} is missing: clone the project beside its ../shared"
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sweepq.db"


@pytest.fixture
def fake_api() -> Iterator[FakeAPI]:
    """A fault-free fake Messages API on 127.0.0.1."""
    with FakeAPI(FakeConfig()) as fake:
        yield fake


def sdk(**options):
    """The real `anthropic` client, on the process's one TLS context (`sweepq.tls`) as
    sweepq's own clients are: a context of its own reads the CA bundle, which costs more
    than most tests that make a client."""
    import anthropic

    from sweepq import tls

    return anthropic.Anthropic(
        http_client=anthropic.DefaultHttpxClient(verify=tls.context()), **options)


def cli_env(fake: FakeAPI | None = None, **extra: str) -> dict[str, str]:
    """The environment for a `sweepq` subprocess: offline, pointed at the fake API."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "SWEEPQ_"))}
    env["HF_HUB_OFFLINE"] = "1"
    if fake is not None:
        env["ANTHROPIC_BASE_URL"] = fake.url
        env["ANTHROPIC_API_KEY"] = "sk-ant-test-key"
    env.update(extra)
    return env


def run_cli(*args: str, db: Path | None = None, fake: FakeAPI | None = None,
            env: dict[str, str] | None = None, timeout: float = 120,
            check: bool = False, process: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `sweepq ARGS`: in this process by default, as a real one with `process=True`.

    In-process (click's runner) is the same command code, arguments, environment,
    output and exit code, without an interpreter start and an SDK import per call,
    which were most of the suite's CPU. Tests whose point is the process itself
    (signals, two workers, a crash, the `python -m sweepq` entry point, files left
    open, an import path set by PYTHONPATH) pass `process=True`: how a command runs is
    always the test's explicit choice, never guessed from the environment.
    """
    argv = ["--db", str(db), *args] if db is not None else list(args)
    env = env or cli_env(fake)
    done = _run_process(argv, env, timeout) if process else _run_in_process(argv, env)
    if check and done.returncode != 0:
        raise AssertionError(f"sweepq {' '.join(args)} exited {done.returncode}:\n"
                             f"{done.stdout}\n{done.stderr}")
    return done


def _run_process(argv: list[str], env: dict[str, str],
                 timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sweepq", *argv], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT, check=False)


def _run_in_process(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The CLI on click's runner, with exactly `env` as the environment and the signal
    handlers `work` installs put back afterwards. An exception that escapes the command
    is printed as the traceback a process would have printed, so tests that forbid
    tracebacks still see it."""
    from click.testing import CliRunner

    from sweepq.cli import main

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM,
                                                       signal.SIGHUP)}
    overrides: dict[str, str | None] = {k: None for k in os.environ if k not in env}
    overrides.update(env)
    try:
        result = CliRunner().invoke(main, argv, env=overrides, prog_name="sweepq")
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["sweepq", *argv], result.exit_code, result.stdout,
                                       stderr)


# -- helpers the test files share ----------------------------------------------------------

BOTH = "boolean_expressions,web_of_lies"


def enqueue(db: Path, dataset: Path, *extra: str, n: int | str = 2, arms: str = "haiku-only",
            sweep: str = "s", subtasks: str = BOTH, check: bool = True,
            **run: object) -> subprocess.CompletedProcess[str]:
    """`sweepq enqueue` of a small sweep (in this process unless `process=True`): the
    setup most tests start from. Raises on a refusal unless `check=False`."""
    return run_cli("enqueue", "--sweep", sweep, "--subtasks", subtasks, "--n-per-subtask",
                   str(n), "--arms", arms, "--dataset", str(dataset), *extra, db=db,
                   check=check, **run)  # type: ignore[arg-type]


def try_enqueue(db: Path, dataset: Path, *extra: str, n: int | str = 3,
                subtasks: str = "web_of_lies", **kw: object) -> subprocess.CompletedProcess[str]:
    """`enqueue` as a person types it, one subtask: the refusal returned, not raised."""
    return enqueue(db, dataset, *extra, n=n, subtasks=subtasks, check=False, **kw)  # type: ignore[arg-type]


def assert_refused(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    """A user mistake: non-zero exit and one line on stderr naming it, no traceback."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("sweepq: error: "), done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.endswith("\n"), done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr
    return done.stderr


def rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of `sql` on a plain connection of its own, closed afterwards."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        with conn:
            return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def read(db: Path, sql: str, params: tuple = ()) -> list[dict]:
    """Rows of `sql` as dicts, through sweepq's own reader."""
    from sweepq.queue import Queue

    queue = Queue.open(str(db))
    try:
        return queue.read(sql, params)
    finally:
        queue.close()


def canonical(db: Path) -> list[tuple]:
    """The canonical export's rows, reduced to what two equal runs must share."""
    out = run_cli("export", "--order", "canonical", "-", db=db, check=True).stdout
    lines = [json.loads(line) for line in out.splitlines()[1:]]
    return [(r["task_id"], r["arm"], r["passed"], r["detail"], r["sub_calls"]) for r in lines]


class Clock:
    """Time that moves only when a test moves it (`advance`) or code sleeps on it."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def _sample_bbh_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sweepq.sample import write_sample

    return write_sample(tmp_path_factory.mktemp("sample") / "bbh", n=50)


@pytest.fixture
def sample_bbh(_sample_bbh_once: Path) -> Iterator[Path]:
    """A BBH-format folder sweepq generates itself (boolean_expressions, web_of_lies).

    Written once per test process and shared, so `datasets` prepares each file once per
    process instead of once per test (~300 tests enqueue from it). Read it; copy it to
    make a variant: a test that adds or changes a file in it fails here."""
    before = _listing(_sample_bbh_once)
    yield _sample_bbh_once
    assert _listing(_sample_bbh_once) == before, "a test wrote into the shared sample_bbh"


def _listing(folder: Path) -> list[tuple[str, int, int]]:
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir())


@pytest.fixture
def start_group() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start a process in its own process group, as a terminal starts a foreground job
    (so `os.killpg` is its Ctrl-C). Any still running when the test ends is killed with
    its whole group, children included."""
    started: list[subprocess.Popen[str]] = []

    def start(argv: list[str], **kwargs: object) -> subprocess.Popen[str]:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True, **kwargs)  # type: ignore[call-overload]
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move everything imported so far (the SDKs' models, pandas, the test modules) out of
    the garbage collector's sight: it never frees, and each full collection walked all of
    it again, 4-6 s of CPU per worker otherwise. Then a young collection every 20,000
    allocations rather than 700: the suite's garbage is short-lived and small, and the
    collector's time in the fast suite went from 4.5 to 1.9 s of CPU."""
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


# -- the order of tests --------------------------------------------------------------------

# `make test-slow` runs on xdist workers, which take tests in collection order: the longest
# go first, so none starts late and runs alone at the end (the rest keep their order).
LONGEST_FIRST = ["test_chaos_equals_calm", "test_no_exit_path_ends_in_a_signal_death",
                 "test_the_readme_examples_run_top_to_bottom",
                 "test_2000_jobs_by_batch_equal_live_at_half_the_cost",
                 "test_sigkill_during_commits_leaves_a_consistent_database",
                 "test_a_worker_stalled_past_its_lease_makes_no_further_calls",
                 "test_every_shipped_canonical_solution_passes",
                 "test_the_installed_wheel_runs_help_the_fake_api_and_the_demo",
                 "test_two_processes_finish_a_500_job_sweep_exactly_once",
                 "test_the_humaneval_demo_runs_offline_with_code_in_the_sandbox"]
# `make test` (--dist worksteal) gives each worker an equal run of the collection, then moves
# tests queued at the end of a busy worker's run to an idle one: a test of seconds near the
# end of a run started late and ran alone. The fast suite's longest (2-4 s, mostly waiting
# on leases, pauses and processes) are dealt round the workers' runs, spread through the
# first half of each, so they start early and between tests that keep the cores busy.
FAST_LONGEST = ["test_a_server_failing_everything_stops_work_then_resume_completes",
                "test_a_silent_run_is_stopped_as_hung_and_a_talking_one_is_not",
                "test_in_process_a_governed_429_is_neither_a_pause_nor_an_attempt",
                "test_processes_opening_a_new_database_at_once_all_succeed",
                "test_a_live_worker_never_pays_again_for_calls_still_in_a_batch",
                "test_rate_limit_pauses_every_worker_then_resumes_without_counting",
                "test_import_then_export_is_the_identity_or_a_refusal",
                "test_export_streams_a_big_sweep",
                "test_batches_cancel_cancels_at_the_api_and_its_requests_go_out_again",
                "test_a_fork_bomb_is_contained_and_cleaned_up",
                "test_batch_equals_live_at_half_the_cost_in_chain_rounds",
                "test_a_small_sweep_of_real_problems"]
# Modules whose tests share an expensive module fixture (a served page shot by Chromium):
# one worker takes the whole module, so the fixture is built once.
ONE_WORKER_MODULES = {"tests/e2e/test_browser.py"}


@pytest.hookimpl(trylast=True)   # after -m and -k deselected: the items xdist hands out
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_rank(LONGEST_FIRST))
    workers = getattr(config, "workerinput", {}).get("workercount", 1)   # 1: not on xdist
    if workers > 1:   # (the slow suite has none of FAST_LONGEST: its order stays)
        items[:] = _dealt(items, workers)


def _rank(names: list[str]) -> Callable[[pytest.Item], int]:
    rank = {name: i for i, name in enumerate(names)}
    return lambda item: rank.get(getattr(item, "originalname", ""), len(rank))


def _dealt(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """`items` with FAST_LONGEST's dealt round the runs worksteal first gives `workers`
    (worker i the i-th of nearly equal runs, as xdist's WorkStealingScheduling sends them)."""
    fast_rank = _rank(FAST_LONGEST)
    longest = sorted((item for item in items if fast_rank(item) < len(FAST_LONGEST)),
                     key=fast_rank)
    rest = [item for item in items if fast_rank(item) == len(FAST_LONGEST)]
    order: list[pytest.Item] = []
    for worker in range(workers):
        size = (len(items) - len(order)) // (workers - worker)
        mine = longest[worker::workers]
        others, rest = rest[:max(size - len(mine), 0)], rest[max(size - len(mine), 0):]
        step = max(len(others) // 2 // max(len(mine), 1), 1)
        for i, item in enumerate(mine):
            others.insert(i * (step + 1), item)
        order += others
    return order + rest


@pytest.hookimpl(optionalhook=True)   # `pytest -p no:xdist` runs the suite in one process
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """With `--dist loadscope` (make test-slow): every test a unit of its own, given to the
    next free worker, but a module of ONE_WORKER_MODULES one unit. (xdist's own grouping,
    xdist_group with --dist loadgroup, does nothing on pytest 9.2: pytest-xdist#1386.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OneTestOrOneModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER_MODULES else nodeid

    return OneTestOrOneModule(config, log)
