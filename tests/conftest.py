"""Fixtures shared by the test files: paths, a fake API on loopback, the CLI."""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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
    if _worker_number() == 0 and _first_run(session.config):   # others wait for this (below)
        _collected_signal().touch()
        atexit.register(_collected_signal().unlink, missing_ok=True)
        cache = session.config.cache
        cache.set(COLLECTED_WITH, [*cache.get(COLLECTED_WITH, []), sys.prefix])


# -- the slow suite's order -----------------------------------------------------------------

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
# Modules whose tests share an expensive module fixture (a served page shot by Chromium):
# one worker takes the whole module, so the fixture is built once.
ONE_WORKER_MODULES = {"tests/e2e/test_browser.py"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(getattr(item, "originalname", ""), len(rank)))


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


# -- a first run's start ------------------------------------------------------------------------

# On a fresh clone nothing is compiled yet, and every xdist worker compiled the SDKs
# (anthropic alone is 3,300 modules) and rewrote every test module for itself, four at once
# on two cores. On such a run (no collection recorded in pytest's cache for this
# interpreter) the first worker collects alone, the second meanwhile imports what tests
# import later (so that is compiled once too), and the others collect once the first has:
# from the caches. The fast suite's first run here, three of each side by side: 59-62 s
# against 66-84 s.
LATER_IMPORTS = ("openai", "google.genai", "datasets")   # imported by tests, not collection
WAIT_AT_MOST = 120.0   # seconds: a first worker that dies must not hang the others
COLLECTED_WITH = "sweepq/collected-with"   # in pytest's cache: venvs that collected once


def _worker_number() -> int | None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") else None


def _collected_signal() -> Path:
    """The file the first worker creates once it has collected (one per run)."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
    return Path(tempfile.gettempdir()) / f"sweepq-tests-{run}.collected"


def _first_run(config: pytest.Config) -> bool:
    cache = getattr(config, "cache", None)   # None with -p no:cacheprovider: never wait
    return cache is not None and sys.prefix not in cache.get(COLLECTED_WITH, [])


def pytest_configure(config: pytest.Config) -> None:
    number = _worker_number()
    if not number or not _first_run(config):   # not a worker, the first, or not a first run
        return
    if number == 1:
        for name in LATER_IMPORTS:
            with contextlib.suppress(ImportError):   # only a head start: the tests import
                __import__(name)
    deadline = time.monotonic() + WAIT_AT_MOST
    while not _collected_signal().exists() and time.monotonic() < deadline:
        time.sleep(0.05)
