"""The numbers the docs state are the code's (issue 19: every claim checked or generated).

Each phrase below is built from the constant it states, so changing a limit, a backoff or
an exit code without its page fails here; and every relative link of the README and the
docs pages reaches a file and, when it names one, a heading of that file.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from sweepq import (
    batch,
    batch_api,
    batch_link,
    bounds,
    db,
    governor,
    jobrun,
    models,
    pauselog,
    prompts,
    queue,
    records,
    redact,
    report,
    serve,
    worker,
)
from sweepq.failures import DEFAULT_RATE_LIMIT_PAUSE
from sweepq.failures.api import _FATAL_JOB_STATUSES
from sweepq.vendors import openai as openai_backend

ROOT = Path(__file__).resolve().parents[2]


def _page(name: str) -> str:
    return " ".join((ROOT / name).read_text().split())     # one space for any line break


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} minutes"


def _longest(name: re.Pattern[str]) -> int:
    """The longest name a pattern of one first character and `{0,N}` more accepts."""
    return 1 + int(re.search(r"\{0,(\d+)\}", name.pattern).group(1))


CLAIMS = [
    ("docs/failures.md", f"ends attempts of {queue.BREAKER_JOBS} different jobs in a row"),
    ("docs/failures.md", f"retried inside the attempt ({models.TRANSIENT_TRIES} tries"),
    ("docs/failures.md", f"up to {governor.MAX_GOVERNED_RETRIES} refusals for one call"),
    ("docs/failures.md", f"({DEFAULT_RATE_LIMIT_PAUSE:g} s when none is given)"),
    ("docs/failures.md", f"for {jobrun.PROBE_FIRST_SECONDS:g} s, doubling up to "
                         f"{_minutes(jobrun.PROBE_MAX_SECONDS)}"),
    ("docs/failures.md", f"a jittered wait of {queue.BACKOFF_BASE_SECONDS / 2:g}-"
                         f"{queue.BACKOFF_BASE_SECONDS:g} s, doubling per attempt up to "
                         f"{queue.BACKOFF_CAP_SECONDS / 120:g}-"
                         f"{_minutes(queue.BACKOFF_CAP_SECONDS)}"),
    ("docs/failures.md", "a 400, " + ", ".join(map(str, sorted(_FATAL_JOB_STATUSES)[1:-1]))
                         + f" or {max(_FATAL_JOB_STATUSES)})"),
    ("docs/failures.md", f"waits up to {jobrun.SIGNAL_ARRIVAL_SECONDS:g} s for its own signal"),
    ("docs/failures.md", f"expires after {governor.GRANT_LEASE_SECONDS:g} s"),
    ("docs/schema.md", f"until its lease ends ({governor.GRANT_LEASE_SECONDS:g} s)"),
    ("docs/batches.md", f"at most {batch.MAX_REQUESTS:,} requests and "
                        f"{batch.MAX_BYTES // 2**20} MB"),
    ("docs/batches.md", f"(`batches.price_factor`, {batch_link.PRICE_FACTOR:g})"),
    ("docs/batches.md", f"(up to {batch_api.API_TRIES} tries"),
    ("docs/batches.md", f"polled after {batch_link.POLL_FIRST:g} s, then at doubling intervals up "
                        f"to {_minutes(batch_link.POLL_MAX)}"),
    ("docs/guide.md", f"`--concurrency` 1-{bounds.MAX_CONCURRENCY}"),
    ("docs/guide.md", f"`--max-attempts` 1-{bounds.MAX_ATTEMPTS}"),
    ("docs/guide.md", f"a lock held past {db.BUSY_TIMEOUT_MS // 1000} s"),
    ("docs/guide.md", f"({redact.MIN_SECRET_CHARS} characters or more"),
    ("docs/guide.md", f"one at most every {_minutes(pauselog.WAITING_LOG_INTERVAL)} while"),
    ("docs/guide.md", f"pace over the last {_minutes(report.PACE_WINDOW_SECONDS)}"),
    ("docs/guide.md", "Workers notice a resume within a second"
                      if jobrun.PAUSE_POLL_SECONDS <= 1 else "PAUSE_POLL_SECONDS changed"),
    ("docs/guide.md", f"closes a connection idle for {serve.IDLE_SECONDS:g} s"),
    ("docs/guide.md", f"serves at most {serve.MAX_CONNECTIONS} connections at once"),
    ("docs/vendors.md", f"raises any budget below {openai_backend.REASONING_MIN_TOKENS:,} "
                        f"tokens"),
    ("docs/vendors.md", f"sweepq never sends less than {openai_backend.MIN_OUTPUT_TOKENS}"),
    ("docs/guide.md", f"A sweep name is 1 to {_longest(records.SWEEP_NAME)} letters"),
    ("docs/prompt-sets.md", f"NAME 1 to {_longest(prompts.SET_NAME)} lower-case letters"),
    ("docs/prompt-sets.md", f"a `max_tokens` outside 1-{prompts.MAX_TOKENS_LIMIT}"),
    ("docs/prompt-sets.md", f"the API backends send {prompts.UNSET_MAX_TOKENS}"),
]


@pytest.mark.parametrize(("page", "phrase"), CLAIMS)
def test_the_page_states_the_codes_number(page: str, phrase: str) -> None:
    assert phrase in _page(page), f"{page} should say: {phrase}"


def test_the_exit_code_table_is_works_codes() -> None:
    """Every exit code `work` can end with has its row in the guide, and no other."""
    guide = (ROOT / "docs" / "guide.md").read_text()
    table = guide[guide.index("| exit | when |"):]
    table = table[:table.index("\n\n")]
    rows = {int(code) for code in re.findall(r"^\| (\d+) \|", table, re.M)}
    codes = {worker.EXIT_OK, worker.EXIT_INTERNAL, worker.EXIT_DATABASE, worker.EXIT_FATAL,
             worker.EXIT_INCOMPLETE, worker.EXIT_TEMPFAIL}
    assert rows == codes


def test_the_default_max_attempts_is_the_one_the_failure_page_names() -> None:
    from sweepq.cli import main

    help_text = CliRunner().invoke(main, ["enqueue", "--help"]).output
    default = re.search(r"--max-attempts INTEGER.*?\[default: (\d+)\]", help_text, re.S)
    assert default and f"`--max-attempts` (default {default.group(1)})" in _page(
        "docs/failures.md")


def test_the_commands_said_to_print_json_take_json() -> None:
    from sweepq.cli import main

    said = re.search(r"Every command that prints data takes `--json` \((.*?);", _page(
        "docs/guide.md"))
    assert said
    names = re.findall(r"`(\w+)`", said.group(1))
    assert len(names) >= 7
    for name in [*names, "query"]:
        assert "--json" in CliRunner().invoke(main, [name, "--help"]).output, name


CODE_PAGES = ["README.md", "docs/ARCHITECTURE.md", "docs/guide.md", "docs/failures.md",
              "docs/batches.md", "docs/vendors.md", "docs/prompt-sets.md", "docs/schema.md"]


def _resolves(dotted: str) -> bool | None:
    """Whether `module.name...` names something in sweepq: the longest prefix that is a
    module's file, then each further name defined (or imported) in that file's source. Read,
    not imported: importing the SDKs would make this test slow. None when the first part is
    no sweepq module (a TOML key, a table, another library)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        base = ROOT / "sweepq" / Path(*parts[:cut])
        source = next((p for p in (base.with_suffix(".py"), base / "__init__.py")
                       if p.is_file()), None)
        if source is None:
            continue
        text = source.read_text()
        return all(re.search(rf"(?:\b(?:def|class|import)\s+|^\s*|, ){name}\b", text, re.M)
                   for name in parts[cut:])
    return None


def _columns() -> dict[str, set[str]]:
    with tempfile.TemporaryDirectory() as folder:
        conn = db.connect(Path(folder) / "fresh.db")
        tables = [n for (n,) in conn.execute("SELECT name FROM sqlite_master"
                                             " WHERE type IN ('table', 'view')")]
        columns = {t: {row[1] for row in conn.execute(f"PRAGMA table_info({t})")}
                   for t in tables}
        conn.close()
    return columns


@pytest.mark.parametrize("page", CODE_PAGES)
def test_the_code_a_page_names_exists(page: str) -> None:
    """Each `module.name` of sweepq, `file.py` and `table.column` a page names is there."""
    text = (ROOT / page).read_text()
    columns = _columns()
    files = {p.name for p in [*(ROOT / "sweepq").rglob("*.py"), *(ROOT / "tests").glob("*.py")]}
    missing = []
    for ref in set(re.findall(r"`((?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*)(?:\(\))?`", text)):
        head, _, rest = ref.partition(".")
        if rest in ("db", "jsonl", "toml", "html", "csv", "md", "json"):
            continue                                    # a file of the user's
        if rest == "py":
            found = ref in files
        elif head in columns and "." not in rest:
            found = rest in columns[head]
        else:
            found = _resolves(ref) is not False
        if not found:
            missing.append(ref)
    assert sorted(missing) == []


def _links() -> list[tuple[Path, str, str]]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [(page, target, anchor) for page in pages
            for target, anchor in re.findall(r"\]\(([^)#:\s]*)(?:#([^)\s]+))?\)",
                                             page.read_text())]


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as dashes."""
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.*)$", page.read_text(), re.M)}


def test_every_link_of_the_docs_reaches_its_page_and_heading() -> None:
    broken = []
    for page, target, anchor in _links():
        path = (page.parent / target).resolve() if target else page
        if not path.exists() or (anchor and path.suffix == ".md"
                                 and anchor not in _anchors(path)):
            broken.append(f"{page.relative_to(ROOT)}: {target}#{anchor}")
    assert broken == []
