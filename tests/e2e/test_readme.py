"""The documented examples run (issue 18, item 6; issue 19, item 5): every shell and Python
block of the README and of the pages in PAGES, page after page, top to bottom, on one
database, offline against the fake API; and the prompt set docs/prompt-sets.md prints is
the one `sweepq prompts init` writes.

The commands run as typed, through bash, with these substitutions only (each because the
machine is not a user's): the ports of the pages' `fake-api` and `serve` become free ones,
`~/.local/bin/claude` the test stand-in `tests/bin/claude`, and a command whose line ends
in `&` (a server) or that serves (`sweepq serve`) runs in the background until it listens.
A `make` line is checked to name a target of the Makefile, not run (`make test` inside the
tests; `make demo` runs in tests/e2e/test_wheel.py).
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

# The pages whose examples run, in this order: the README's session, then the guide's
# walkthrough on the same database, then the topic pages.
PAGES = ["README.md", "docs/guide.md", "docs/vendors.md", "docs/prompt-sets.md",
         "docs/batches.md", "docs/schema.md"]


def _blocks(language: str, pages: list[str] = PAGES) -> list[str]:
    return [block for page in pages
            for block in re.findall(rf"```{language}\n(.*?)```", (ROOT / page).read_text(), re.S)]


def _shell(block: str) -> list[str]:
    """Each command of a shell block, continuation lines joined, comment lines dropped."""
    out = []
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


def steps() -> list[tuple[str, str]]:
    """("sh", command) and ("python", code) in page order; a Python block that opens with
    a file name (`# mylab/arms.py`) is a file to write, not a step."""
    out: list[tuple[str, str]] = []
    for page in PAGES:
        text = (ROOT / page).read_text()
        for language, block in re.findall(r"```(sh|python)\n(.*?)```", text, re.S):
            if language == "sh":
                out += [("sh", command) for command in _shell(block)]
            elif not re.match(r"# [\w/]+\.py\n", block):
                out.append(("python", block))
    return out


def commands() -> list[str]:
    return [step for kind, step in steps() if kind == "sh"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_documented_prompt_set_is_what_prompts_init_writes() -> None:
    [toml] = [b for b in _blocks("toml", ["docs/prompt-sets.md"])
              if b.startswith("# A sweepq prompt")]
    assert toml == default_set().text


def test_the_pages_have_the_examples_this_test_runs() -> None:
    runs = [c for c in commands() if not c.startswith("make ")]
    assert runs[0].startswith("sweepq enqueue --sweep bbh-n20")
    for start in ("sweepq enqueue --sweep pilot", "sweepq sweeps", "sweepq query",
                  "sweepq work --sweep full --backend batch", "sweepq prompts init"):
        assert any(c.startswith(start) for c in runs), start
    assert any("sweepq.open" in code for kind, code in steps() if kind == "python")


def test_the_make_lines_name_targets_of_the_makefile() -> None:
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    makes = [c.split()[1] for c in commands() if c.startswith("make ")]
    assert makes and set(makes) <= targets, (makes, targets)


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
        for kind, command in steps():
            if kind == "python" or command.startswith("make "):
                if kind == "python":
                    _python(command, work, env)
                continue
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
    assert sum(c.startswith("sweepq ") for c in ran) >= 40, ran
    assert (work / "pilot.html").is_file() and (work / "errors.csv").is_file()
    assert (work / "mylab").is_dir() and (work / "my-prompts.toml").is_file()
    _the_readme_counts_its_jobs_right(work / "sweepq.db")


def _the_readme_counts_its_jobs_right(db: Path) -> None:
    """The front page says how many jobs its session writes, and that all of them run."""
    import sqlite3

    said = re.search(r"`enqueue` writes the (\d+) jobs", (ROOT / "README.md").read_text())
    assert said, "README.md no longer says how many jobs its session writes"
    with sqlite3.connect(db) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM jobs WHERE sweep = 'bbh-n20'"
                                   " GROUP BY state"))
    assert states == {"done": int(said.group(1))}


def _python(code: str, cwd: Path, env: dict[str, str]) -> None:
    """A Python block, run as a script in the pages' folder."""
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{code}\n{done.stdout[-2000:]}\n{done.stderr}"


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
