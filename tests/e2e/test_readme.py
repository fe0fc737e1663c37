"""The README's examples run (issue 18, item 6): every shell block from `## Commands` to the
end, top to bottom, in order, on one database, offline against the fake API; and the prompt
set the README prints is the one `sweepq prompts init` writes.

The commands run as typed, through bash, with these substitutions only (each because the
machine is not a user's): the ports of the README's `fake-api` and `serve` become free ones,
`~/.local/bin/claude` the test stand-in `tests/bin/claude`, and a command whose line ends
in `&` (a server) or that serves (`sweepq serve`) runs in the background until it listens.
"""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, SHARED, cli_env, shared

from sweepq.prompts import default_set

README = (ROOT / "README.md").read_text()


def _blocks(language: str, start: str = "## Commands") -> list[str]:
    text = README[README.index(start):]
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def commands() -> list[str]:
    """Each command of the shell blocks, continuation lines joined, comment lines dropped."""
    out = []
    for block in _blocks("sh"):
        pending = ""
        for line in block.replace("\\\n", " ").splitlines():
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            pending = f"{pending} {line.strip()}".strip()
            try:
                shlex.split(pending, comments=True)   # a quote still open: read on
            except ValueError:
                continue
            out.append(pending)
            pending = ""
    return out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_readme_prompt_set_is_what_prompts_init_writes() -> None:
    [toml] = [b for b in _blocks("toml", "## Prompt sets") if b.startswith("# A sweepq prompt")]
    assert toml == default_set().text


def test_the_readme_has_the_examples_this_test_runs() -> None:
    runs = commands()
    assert runs[0].startswith("sweepq enqueue --sweep pilot")
    assert any(c.startswith("sweepq sweeps") for c in runs)
    assert any(c.startswith("sweepq query") for c in runs)


@pytest.mark.slow    # ~35 commands, each a process (a minute on two busy cores)
def test_the_readme_examples_run_top_to_bottom(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    shared("bbh"), shared("echo-results")                     # fails, never skips, without
    (tmp_path / "shared").symlink_to(SHARED)                  # ../shared/bbh from work/
    [arms_py] = [b for b in _blocks("python") if b.startswith("# mylab/arms.py")]
    (work / "mylab").mkdir()
    (work / "mylab" / "arms.py").write_text(arms_py)
    ports = {p: str(_free_port()) for p in ("8089", "8090", "8765")}
    env = {k: v for k, v in cli_env().items() if k != "PYTHONPATH"}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env["HOME"] = str(tmp_path)                                   # the README's ~
    background: list[subprocess.Popen[str]] = []
    ran: list[str] = []
    try:
        for command in commands():
            for readme_port, port in ports.items():
                command = command.replace(readme_port, port)
            command = command.replace("~/.local/bin/claude", str(ROOT / "tests/bin/claude"))
            tool = command.split()[0]
            if shutil.which(tool, path=env["PATH"]) is None and "=" not in tool:
                continue    # sqlite3 or jq not installed: sweepq's own lines still all run
            if "ANTHROPIC_BASE_URL" not in command:
                env.pop("ANTHROPIC_BASE_URL", None)
                env["ANTHROPIC_API_KEY"] = "dry-run"
            if command.endswith("&") or command.startswith("sweepq serve"):
                background.append(_serve(command.rstrip("& "), work, env))
                ran.append(command)
                continue
            if command.startswith("sweepq work") and "ANTHROPIC_BASE_URL" not in command:
                env["ANTHROPIC_BASE_URL"] = _fake_url(background, work, env)
            done = subprocess.run(["bash", "-c", command], cwd=work, env=env,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr}"
            assert "Traceback" not in done.stderr and "internal error" not in done.stderr
            ran.append(command)
    finally:
        for server in background:
            server.terminate()
            server.wait(timeout=10)
    assert sum(c.startswith("sweepq ") for c in ran) >= 30, ran
    assert (work / "pilot.html").is_file() and (work / "errors.csv").is_file()
    assert (work / "mylab").is_dir() and (work / "my-prompts.toml").is_file()


def _serve(command: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """A server from the README, started and waited for (its first line names its URL)."""
    server = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    line = server.stdout.readline()
    url = re.search(r"http://127\.0\.0\.1:\d+/?", line)
    assert url, f"{command}: {line!r}"
    if command.startswith("sweepq serve"):
        with urllib.request.urlopen(url.group(0), timeout=10) as page:
            assert page.status == 200 and b"pilot" in page.read()
    server.url = url.group(0).rstrip("/")  # type: ignore[attr-defined]
    return server


def _fake_url(background: list[subprocess.Popen[str]], cwd: Path,
              env: dict[str, str]) -> str:
    """The fake API a `sweepq work` of the README runs against (the README's users have
    their key; this test has a fake of its own until the README starts one)."""
    fakes = [s for s in background if "fake-api" in " ".join(map(str, s.args))]
    if not fakes:
        fakes.append(_serve(f"sweepq fake-api --port {_free_port()}", cwd, env))
        background.append(fakes[0])
    return fakes[0].url  # type: ignore[attr-defined]
