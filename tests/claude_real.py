"""The real `claude` binary for the slow tests: installed from npm at a pinned version.

`@anthropic-ai/claude-code` ships the native build of each platform as an optional
dependency (`@anthropic-ai/claude-code-linux-x64`, …); its postinstall only copies that
binary over a placeholder, and npm 11 skips install scripts it was not told to allow. So
the binary is taken from the platform package itself. Installed once into
`.cache/claude-cli/<version>` (gitignored); without npm the tests skip saying so.

The environment keeps every run on loopback with no real account: a temporary HOME, a
placeholder credential, `ANTHROPIC_BASE_URL` at the tests' fake, and the documented
switches for telemetry, error reports, auto-update and other non-essential traffic off
(`CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC` is all four at once; each is set anyway).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

VERSION = "2.1.328"
PACKAGE = "@anthropic-ai/claude-code"
ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "claude-cli" / VERSION
OAUTH_TOKEN = "sk-ant-oat01-placeholder-not-a-real-token"
API_KEY = "sk-ant-api03-placeholder-not-a-real-key"
QUIET = {"DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1",
         "DISABLE_AUTOUPDATER": "1", "DISABLE_BUG_COMMAND": "1",
         "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}


def binary() -> Path:
    """The native binary, installed first when missing; skips when npm is absent. One
    install at a time: the slow suite's workers may all ask at once."""
    found = _native()
    if found is not None:
        return found
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed: cannot install {PACKAGE}@{VERSION}")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE.parent / f"{VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)            # released when the file closes
        found = _native()                           # another worker's install, finished
        if found is not None:
            return found
        done = subprocess.run([npm, "install", "--prefix", str(CACHE), "--no-audit",
                               "--no-fund", "--no-save", "--loglevel=error",
                               f"{PACKAGE}@{VERSION}"],
                              capture_output=True, text=True, timeout=600, check=False)
    found = _native()
    if found is None:
        raise AssertionError(f"npm install {PACKAGE}@{VERSION} gave no native binary for "
                             f"this platform (exit {done.returncode}): {done.stderr[-2000:]}")
    return found


def _native() -> Path | None:
    """The platform package's `claude` that runs and says it is VERSION."""
    scope = CACHE / "node_modules" / "@anthropic-ai"
    for candidate in sorted(scope.glob("claude-code-*/claude")):
        with tempfile.TemporaryDirectory() as home:
            try:
                said = subprocess.run([str(candidate), "--version"], capture_output=True,
                                      text=True, timeout=30, check=False,
                                      env=environment(Path(home), "http://127.0.0.1:9"))
            except OSError:               # another platform's build
                continue
        if said.stdout.startswith(VERSION):
            return candidate
    return None


def environment(home: Path, base_url: str, *, api_key: bool = False,
                **extra: str) -> dict[str, str]:
    """What a worker running the real binary gets: nothing of the caller's account."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "CLAUDE", "SWEEPQ_"))}
    env.update(QUIET, HOME=str(home), ANTHROPIC_BASE_URL=base_url, HF_HUB_OFFLINE="1",
               TZ="Europe/London")
    env["ANTHROPIC_API_KEY" if api_key else "CLAUDE_CODE_OAUTH_TOKEN"] = \
        API_KEY if api_key else OAUTH_TOKEN
    env.update(extra)
    return env
