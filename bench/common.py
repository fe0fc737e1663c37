"""Shared helpers for the benchmark scripts (bench-only; sweepq never imports this).

Every script prints its figures as JSON lines on stdout, one row per measurement:

    {"section": ..., "metric": ..., "sweepq": ..., "compare": ..., "compare_label": ...,
     "ratio": ..., "ratio_label": ..., "unit": ..., "goal": ..., "met": true|false|null,
     "detail": {...}}

and progress notes on stderr. `run_all.py` collects the rows and writes BENCHMARKS.md.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
FAKE_KEY = "sk-bench-fake-key"


def sweepq_cmd() -> list[str]:
    """The `sweepq` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "sweepq"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sweepq"]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for every child: offline, loopback only, a fake API key."""
    env = dict(os.environ)
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                  "all_proxy"):
        env.pop(proxy, None)
    env.update(HF_HUB_OFFLINE="1", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               ANTHROPIC_API_KEY=FAKE_KEY, PYTHONUNBUFFERED="1")
    env.pop("SWEEPQ_DB", None)
    env.update(extra)
    return env


def note(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def emit(section: str, metric: str, *, sweepq: Any, unit: str, compare: Any = None,
         compare_label: str | None = None, ratio: float | None = None,
         ratio_label: str | None = None, goal: str | None = None, met: bool | None = None,
         **detail: Any) -> dict[str, Any]:
    row = {"section": section, "metric": metric, "sweepq": sweepq, "compare": compare,
           "compare_label": compare_label, "ratio": ratio, "ratio_label": ratio_label,
           "unit": unit, "goal": goal, "met": met, "detail": detail}
    print(json.dumps(row), flush=True)
    return row


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def rnd(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@contextmanager
def workdir(prefix: str) -> Any:
    """A scratch folder, removed afterwards (set BENCH_KEEP=1 to keep it)."""
    base = os.environ.get("BENCH_TMP") or None
    path = Path(tempfile.mkdtemp(prefix=f"sweepq-bench-{prefix}-", dir=base))
    try:
        yield path
    finally:
        if os.environ.get("BENCH_KEEP"):
            note(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


# -- children with their own resource usage -----------------------------------------

@dataclass
class ChildRun:
    returncode: int
    wall: float
    maxrss_mb: float     # peak resident set of the child (and its waited descendants)
    cpu: float           # user + system seconds of the child
    stdout: str
    stderr: str
    started_at: float = 0.0   # unix time just before the spawn
    ended_at: float = 0.0     # unix time when it was reaped


def run_child(cmd: Sequence[str], *, env: dict[str, str] | None = None,
              timeout: float = 600, cwd: str | Path | None = None) -> ChildRun:
    """Run a command to the end; its own rusage comes from wait4 on its pid.

    wait4 reports exactly this child (not every child this process ever had, as
    RUSAGE_CHILDREN would).
    """
    out = tempfile.TemporaryFile(mode="w+")
    err = tempfile.TemporaryFile(mode="w+")
    started_at = time.time()
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, env=env or child_env(), cwd=cwd)
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.005)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    return ChildRun(proc.returncode, wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime,
                    out.read(), err.read(), started_at, started_at + wall)


def python_child(code: str, *args: str, env: dict[str, str] | None = None,
                 timeout: float = 600) -> ChildRun:
    return run_child([sys.executable, "-c", code, *args], env=env, timeout=timeout)


def last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON line in output: {text[-500:]!r}")


# -- the fake Messages API, as its own process -------------------------------------

class FakeServer:
    """`sweepq fake-api` in a separate process (so its CPU is not the client's)."""

    def __init__(self, *args: str, latency_ms: float = 0):
        self.args = ["--latency-ms", f"{latency_ms:g}", *args]
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> FakeServer:
        self.proc = subprocess.Popen([*sweepq_cmd(), "fake-api", "--host", "127.0.0.1",
                                      "--port", "0", *self.args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=child_env())
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"fake-api did not start: {line!r} "
                               f"{self.proc.stderr.read() if self.proc.stderr else ''}")
        self.url = line.split()[-1]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _request(self, method: str, path: str) -> dict[str, Any]:
        req = urllib.request.Request(self.url + path, method=method,
                                     data=b"{}" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        data = self._request("GET", "/stats")
        data.pop("success_hashes", None)
        return data

    def reset(self) -> None:
        self._request("POST", "/_stats/reset")

    def env(self) -> dict[str, str]:
        return child_env(ANTHROPIC_BASE_URL=self.url)


# -- sweeps from the generated sample data set --------------------------------------

SUBTASKS = ("boolean_expressions", "web_of_lies")


def sample_dataset(folder: Path, n_per_subtask: int) -> Path:
    from sweepq.sample import write_sample

    return write_sample(folder, n=n_per_subtask)


def enqueue_sample(db: Path, data: Path, sweep: str, n_per_subtask: int, arms: str,
                   extra: Sequence[str] = ()) -> None:
    """`sweepq enqueue` of n_per_subtask tasks of each generated subtask × arms."""
    done = run_child([*sweepq_cmd(), "--db", str(db), "enqueue", "--sweep", sweep,
                      "--subtasks", ",".join(SUBTASKS), "--n-per-subtask", str(n_per_subtask),
                      "--arms", arms, "--dataset", str(data), *extra])
    if done.returncode:
        raise RuntimeError(f"enqueue failed: {done.stderr[-800:]}")


def work_cmd(db: Path, sweep: str, concurrency: int, *extra: str) -> list[str]:
    return [*sweepq_cmd(), "--db", str(db), "work", "--sweep", sweep, "--concurrency",
            str(concurrency), "--quiet", *extra]


def query(db: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def queue_makespan(db: Path) -> dict[str, float | int]:
    """First claim to last result, from the database's own timestamps."""
    first, last, done = query(db, "SELECT min(j.started_at), max(r.completed_at), count(*)"
                                  " FROM results r JOIN jobs j USING (job_id)")[0]
    first_any = query(db, "SELECT min(started_at) FROM jobs")[0][0]
    first = min(x for x in (first, first_any) if x is not None)
    return {"first_claim": first, "last_result": last, "done": done,
            "seconds": (last - first) if done else float("nan")}


# -- inspect_ai as a child process, against the fake -------------------------------

# Runs the jobs of a sweepq database (in queue order) as inspect_ai samples: the job's
# prompt as input, its gold answer as target, solver [system_message(PERSONA_A),
# generate()], scorer includes(), model anthropic/claude-haiku-4-5, max_connections
# as given, display "none", logs to log_dir; all else inspect's default. Prints one JSON
# line: import_s (imports and dataset), eval_s (the eval() call), and from the log's
# model events first_request / last_response (unix times: the first model call's start,
# the last one's completion, retries included) with span_s between them, and the input
# tokens of its model usage (as the fake's responses reported them).
INSPECT_CHILD = r"""
import json, sqlite3, sys, time
t0 = time.perf_counter()
from inspect_ai import Task, eval as inspect_eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import includes
from inspect_ai.solver import generate, system_message
from sweepq.arms import PERSONA_A
db, log_dir, connections = sys.argv[1], sys.argv[2], int(sys.argv[3])
conn = sqlite3.connect(db)
samples = []
for job_id, task in conn.execute("SELECT job_id, task FROM jobs ORDER BY position"):
    payload = json.loads(task)
    samples.append(Sample(id=job_id, input=payload["prompt"], target=str(payload["answer"])))
conn.close()
task = Task(dataset=MemoryDataset(samples), solver=[system_message(PERSONA_A), generate()],
            scorer=includes())
t1 = time.perf_counter()
logs = inspect_eval(task, model="anthropic/claude-haiku-4-5", max_connections=connections,
                    display="none", log_dir=log_dir)
t2 = time.perf_counter()
log = logs[0]
first = last = None
retries = 0
try:
    from inspect_ai.log import read_eval_log
    for sample in read_eval_log(log.location).samples or []:
        for event in sample.events:
            if getattr(event, "event", None) != "model":
                continue
            retries += getattr(event, "retries", None) or 0
            start = event.timestamp.timestamp()
            end = (event.completed or event.timestamp).timestamp()
            first = start if first is None else min(first, start)
            last = end if last is None else max(last, end)
except Exception as exc:
    print(f"model events unreadable: {exc!r}", file=sys.stderr)
usage = log.stats.model_usage.values() if log.stats and log.stats.model_usage else []
print(json.dumps({"input_tokens": sum(u.input_tokens for u in usage), "import_s": t1 - t0,
                  "eval_s": t2 - t1, "status": log.status,
                  "samples": log.results.completed_samples if log.results else 0,
                  "first_request": first, "last_response": last,
                  "span_s": None if first is None else last - first, "retries": retries,
                  "error": None if log.error is None else str(log.error.message)[:300]}))
"""


def inspect_version() -> tuple[str | None, str]:
    """(inspect_ai's version, "") where it imports, else (None, why not)."""
    try:
        import inspect_ai
    except ImportError as exc:
        return None, f"inspect_ai not importable: {exc}"
    return inspect_ai.__version__, ""


def run_inspect(db: Path, log_dir: Path, connections: int, env: dict[str, str],
                timeout: float = 1200) -> tuple[ChildRun, dict[str, Any] | None, str]:
    """INSPECT_CHILD over db's jobs: (the child, its JSON line or None, why it failed)."""
    child = python_child(INSPECT_CHILD, str(db), str(log_dir), str(connections), env=env,
                         timeout=timeout)
    if child.returncode:
        note(child.stderr[-3000:])
        return child, None, (child.stderr.strip().splitlines() or ["no output"])[-1][:300]
    return child, last_json(child.stdout), ""


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "platform": platform.platform(),
            "load_avg": os.getloadavg()}


def timer() -> Callable[[], float]:
    start = time.perf_counter()
    return lambda: time.perf_counter() - start
