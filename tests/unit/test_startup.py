"""Start-up: a command imports what it uses and no more (`sweepq status --json` on a
million jobs is a process a person waits for; BENCHMARKS.md times it), and the lazily
listed `fake-api` reads in `sweepq --help` as the real command would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click

from sweepq.cli import main
from sweepq.cli.base import FAKE_API_SUMMARY
from sweepq.queue import Queue, Sweep

# Run `sweepq ARGS` in a fresh interpreter, then print the sweepq and SDK modules it
# imported, as JSON on the last line.
PROBE = """
import json, sys
from sweepq.cli import main
try:
    main(sys.argv[1:], prog_name="sweepq")
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules
                        if m.split(".")[0] in ("sweepq", "anthropic", "httpx", "datasets",
                                               "pandas", "openai"))))
"""


def imported_by(*args: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                          text=True, timeout=60, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_help_lists_fake_api_without_importing_the_fake_or_the_queue() -> None:
    modules = imported_by("--help")
    assert "sweepq.cli" in modules
    assert not {m for m in modules if m.startswith("sweepq.fake")}
    assert not modules & {"sweepq.queue", "sweepq.report", "sweepq.arms", "sweepq.timefmt",
                          "anthropic", "httpx", "datasets", "pandas"}


def test_status_json_imports_neither_the_summary_nor_the_sdks(tmp_path: Path) -> None:
    database = tmp_path / "s.db"
    queue = Queue.open(str(database))
    queue.enqueue(Sweep(name="s", arms=["haiku-only"], benchmark="bbh"), [("t0", {"i": 0})])
    queue.close()
    modules = imported_by("--db", str(database), "status", "--json")
    assert {"sweepq.report", "sweepq.queue"} <= modules
    assert not modules & {"sweepq.rescore", "sweepq.scorers", "sweepq.cache_view",
                          "sweepq.views", "sweepq.arms", "sweepq.fake.cli", "anthropic",
                          "httpx", "datasets", "pandas", "openai"}


def test_the_listed_fake_api_summary_is_the_real_commands() -> None:
    real = main.get_command(click.Context(main), "fake-api")
    assert real is not None and real.help is not None
    first = " ".join(real.help.split("\n\n")[0].split())
    assert first == FAKE_API_SUMMARY
    listed = click.Command("fake-api", help=FAKE_API_SUMMARY)
    for limit in (30, 45, 80, 200):
        assert listed.get_short_help_str(limit) == real.get_short_help_str(limit)
