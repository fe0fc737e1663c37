"""Fixtures shared by the test files: paths, a fake API on loopback, the CLI as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sweepq.fake import FakeAPI, FakeConfig

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
BBH_DIR = SHARED / "bbh"
ECHO_RESULTS = SHARED / "echo-results"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

needs_shared_bbh = pytest.mark.skipif(not BBH_DIR.is_dir(), reason="../shared/bbh not present")
needs_echo_results = pytest.mark.skipif(not ECHO_RESULTS.is_dir(),
                                        reason="../shared/echo-results not present")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sweepq.db"


@pytest.fixture
def fake_api() -> Iterator[FakeAPI]:
    """A fault-free fake Messages API on 127.0.0.1."""
    with FakeAPI(FakeConfig()) as fake:
        yield fake


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
            check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run `sweepq ARGS` as a real process (python -m sweepq)."""
    argv = [sys.executable, "-m", "sweepq"]
    if db is not None:
        argv += ["--db", str(db)]
    done = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout,
                          env=env or cli_env(fake), cwd=ROOT, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"sweepq {' '.join(args)} exited {done.returncode}:\n"
                             f"{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture
def sample_bbh(tmp_path: Path) -> Path:
    """A BBH-format folder sweepq generates itself (boolean_expressions, web_of_lies)."""
    from sweepq.sample import write_sample

    return write_sample(tmp_path / "bbh", n=50)
