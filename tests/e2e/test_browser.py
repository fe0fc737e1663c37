"""The sweep's page in a real browser: `sweepq serve` on 127.0.0.1, headless Chromium.

Chromium is Debian's package, installed here when missing (apt, as root); where
that cannot be done the tests skip with the reason. Screenshots are kept in
test-artifacts/ (report.png at 1280 px wide, report-narrow.png at 420 px).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import ROOT, cli_env, run_cli

from sweepq import bbh
from sweepq.fmt import format_p
from sweepq.queue import Queue, Result, Sweep
from sweepq.sample import write_sample
from sweepq.usage import Usage

ARTIFACTS = ROOT / "test-artifacts"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
PWN = "<script>document.body.setAttribute('data-pwned','1')</script>"
EVIL_ARM = f"echo-{SCRIPT}"
EVIL_ARM_2 = f"x{IMG}"
ARMS = ["haiku-only", "sonnet-only", "echo-judge", "echo-oracle", EVIL_ARM, EVIL_ARM_2]
SWEEP = "bbh-browser"
# The first test may wait for apt to install chromium. One xdist worker takes them all
# (conftest.ONE_WORKER_MODULES), so the page is served and shot once.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-quic", "--hide-scrollbars"]


# -- Chromium --------------------------------------------------------------------------

def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed with apt when missing (or a skip saying why not)."""
    found = _find_chromium()
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip("chromium is not installed and there is no apt-get to install it")
    if os.geteuid() != 0:
        pytest.skip("chromium is not installed and installing it needs root (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv, timeout in ((["apt-get", "update"], 600),
                          (["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
                           1200)):
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                                  check=False)
        except subprocess.TimeoutExpired:
            pytest.skip(f"`{' '.join(argv)}` took more than {timeout}s")
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            pytest.skip(f"`{' '.join(argv)}` failed ({done.returncode}): {' | '.join(tail)}")
    found = _find_chromium()
    if not found:
        pytest.skip("apt-get installed chromium but no chromium executable is on PATH")
    return found


def run_chromium(chromium: str, tmp: Path, *args: str, timeout: float = 90) -> str:
    profile = tmp / f"profile-{time.monotonic_ns()}"
    done = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


# -- a small DOM from --dump-dom ---------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.walk()

    def find_all(self, tag: str | None = None, cls: str | None = None,
                 **attrs: str) -> list[Node]:
        return [n for n in self.walk()
                if (tag is None or n.tag == tag)
                and (cls is None or cls in n.attrs.get("class", "").split())
                and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def one(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, cls, **attrs)
        assert len(found) == 1, f"expected one <{tag} class={cls} {attrs}>, found {len(found)}"
        return found[0]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_dom(markup: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(markup)
    builder.close()
    return builder.root


# -- a sweep with results, a hostile one among them ---------------------------------------

ACCURACY = {"haiku-only": 0.7, "sonnet-only": 0.9, "echo-judge": 0.85, "echo-oracle": 0.92,
            EVIL_ARM: 0.6, EVIL_ARM_2: 0.5}
CALLS = {"haiku-only": [1], "sonnet-only": [1], "echo-judge": [3, 3, 3, 4],
         "echo-oracle": [2, 2, 3], EVIL_ARM: [2, 3], EVIL_ARM_2: [1, 2]}


def build_db(path: Path, data_dir: Path) -> None:
    """Enqueue 2 x 12 sample tasks x 6 arms; finish most jobs, leave some pending."""
    tasks = bbh.load_tasks(["boolean_expressions", "web_of_lies"], 12, 0, str(data_dir))
    queue = Queue.open(str(path))
    sweep = Sweep(name=SWEEP, arms=ARMS, subtasks=["boolean_expressions", "web_of_lies"],
                  n_per_subtask=12, dataset=str(data_dir))
    queue.enqueue(sweep, ((t.task_id, t.payload()) for t in tasks))
    rng = random.Random(7)
    finished = 0
    while finished < 130:
        job = queue.claim(SWEEP, "w1")
        assert job is not None
        passed = rng.random() < ACCURACY[job.arm]
        output = f"Let me think step by step.\nAnswer: {job.task['answer']}"
        detail = "passed" if passed else "expected True got False"
        if finished == 127:         # the hostile result (among the latest): output and detail
            passed, output = False, f"Answer: {SCRIPT} {IMG} {PWN}"
            detail = f"expected Yes got {SCRIPT}{IMG}"
        if finished == 9:
            passed, detail = False, "unparseable"
        if finished == 11:
            queue.fail(job.job_id, "w1", f"fatal: model said {SCRIPT}{IMG}", "fatal", final=True)
        else:
            queue.complete(job.job_id, "w1", Result(
                passed=passed, detail=detail, wall_seconds=rng.uniform(1, 6),
                sub_calls=rng.choice(CALLS[job.arm]), output=output,
                usage=Usage(900, 300, cost_usd=round(rng.uniform(0.001, 0.02), 5)),
                models=["claude-haiku-4-5"]))
        finished += 1
    queue.claim(SWEEP, "w2", lease_seconds=3600)     # one job in flight
    queue.pause(time.time() + 1800, "rate_limited", f"retry-after 1800 {IMG}", set_by="w1")
    queue.close()


@dataclass
class Served:
    url: str
    db: Path
    process: subprocess.Popen


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("browser")
    db = tmp / "sweepq.db"
    build_db(db, write_sample(tmp / "bbh", n=20))
    process = subprocess.Popen(
        [sys.executable, "-m", "sweepq", "--db", str(db), "serve", "--port", "0",
         "--sweep", SWEEP, "--refresh", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=ROOT)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("sweepq serve: http://127.0.0.1:"):
            process.kill()
            _, err = process.communicate(timeout=10)
            pytest.fail(f"sweepq serve printed {line!r} first; stderr: {err}")
        url = line.split()[2]
        yield Served(url=url, db=db, process=process)
    finally:
        process.terminate()
        process.communicate(timeout=10)


@pytest.fixture(scope="module")
def summary_json(served: Served) -> dict:
    done = run_cli("summary", "--sweep", SWEEP, "--json", db=served.db, check=True)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def dom(chromium: str, served: Served, tmp_path_factory: pytest.TempPathFactory) -> Node:
    tmp = tmp_path_factory.mktemp("chromium")
    ARTIFACTS.mkdir(exist_ok=True)
    for name, size in (("report.png", "1280,1600"), ("report-narrow.png", "420,2600")):
        target = ARTIFACTS / name
        target.unlink(missing_ok=True)
        run_chromium(chromium, tmp, f"--screenshot={target}", f"--window-size={size}",
                     served.url)
    markup = run_chromium(chromium, tmp, "--dump-dom", served.url)
    (ARTIFACTS / "report-dom.html").write_text(markup, encoding="utf-8")
    return parse_dom(markup)


# -- the tests ----------------------------------------------------------------------------

def test_screenshots_are_kept(dom: Node) -> None:
    for name in ("report.png", "report-narrow.png"):
        data = (ARTIFACTS / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, name


def test_page_has_a_card_per_arm_with_the_status_numbers(dom: Node, summary_json: dict) -> None:
    cards = dom.find_all("article", "card")
    assert [c.attrs["data-arm"] for c in cards] == ARMS
    by_arm = {a["arm"]: a for a in summary_json["arms"]}
    for card in cards:
        arm = by_arm[card.attrs["data-arm"]]
        assert card.one("h3").text() == arm["arm"]
        assert card.one("span", "big").text() == f"{100 * arm['pass_rate']:.1f}%"
        assert f"{arm['ci_low'] * 100:.1f}–{arm['ci_high'] * 100:.1f}%" in card.text()


def test_summary_table_matches_summary_json(dom: Node, summary_json: dict) -> None:
    table = dom.one("table", id="summary")
    rows = [r for r in table.find_all("tr") if "data-arm" in r.attrs]
    assert [r.attrs["data-arm"] for r in rows] == [a["arm"] for a in summary_json["arms"]]
    assert summary_json["baseline"] == "sonnet-only" and summary_json["oracle"] is True
    for row, arm in zip(rows, summary_json["arms"], strict=True):
        cell = {td.attrs["data-key"]: td.text() for td in row.find_all("td")
                if "data-key" in td.attrs}
        assert cell["n"] == f"{arm['n']:,}"
        assert cell["pass_rate"] == f"{100 * arm['pass_rate']:.1f}%"
        assert cell["ci"] == f"{100 * arm['ci_low']:.1f}–{100 * arm['ci_high']:.1f}%"
        assert cell["cost_units"] == f"{arm['cost_units']:,}"
        assert cell["unparseable"] == str(arm["unparseable"])
        vs = arm["vs_baseline"]
        if vs is None:
            assert arm["arm"] == "sonnet-only" and "baseline" in row.text()
        else:
            assert cell["b"] == str(vs["baseline_right_arm_wrong"])
            assert cell["c"] == str(vs["arm_right_baseline_wrong"])
            assert cell["p"] == format_p(vs["p_value"])


def test_chart_has_one_labelled_point_per_arm(dom: Node, summary_json: dict) -> None:
    svg = dom.one("svg", id="chart")
    points = svg.find_all("g", "point")
    with_results = [a["arm"] for a in summary_json["arms"] if a["n"]]
    assert sorted(p.attrs["data-arm"] for p in points) == sorted(with_results)
    for point in points:
        assert len(point.find_all("circle")) == 1
        assert point.one("text", "label").text() == point.attrs["data-arm"]
        assert len(point.find_all("line", "ci")) == 1          # the interval bar


def test_hostile_strings_render_as_text_and_nothing_runs(dom: Node) -> None:
    elements = list(dom.walk())
    assert not [n for n in elements if n.tag == "script"]
    assert not [n for n in elements if n.tag == "img"]
    handlers = [(n.tag, k) for n in elements for k in n.attrs if k.lower().startswith("on")]
    assert not handlers
    body = dom.one("body")
    assert "data-pwned" not in body.attrs
    text = body.text()
    assert SCRIPT in text and IMG in text                       # shown, as text
    latest = dom.one("table", id="latest").text()
    assert f"{SCRIPT} {IMG}" in latest                          # the output
    assert f"expected Yes got {SCRIPT}{IMG}" in latest          # the detail
    assert EVIL_ARM in dom.one("svg", id="chart").text()        # an arm name in the chart
    assert f"model said {SCRIPT}{IMG}" in dom.one("table", id="errors").text()


def test_page_shows_progress_pause_and_reloads_while_unfinished(dom: Node) -> None:
    assert dom.one("span", "badge").text().startswith("paused until")
    assert "retry-after 1800" in dom.one("section", "pause").text()
    refresh = [m for m in dom.find_all("meta") if m.attrs.get("http-equiv") == "refresh"]
    assert refresh and refresh[0].attrs["content"] == "30"
    count = dom.one("span", id="overall-count").text()
    assert count == f"129 / {24 * len(ARMS)} done"


def test_serve_is_read_only_and_live(served: Served) -> None:
    """Requests never write the database; a result a worker adds shows on the next request."""
    def fetch(path: str) -> tuple[dict, dict]:
        with urllib.request.urlopen(served.url.rstrip("/") + path, timeout=30) as response:
            return dict(response.headers), json.loads(response.read())

    headers, before = fetch("/status.json")
    assert "script-src" not in headers["Content-Security-Policy"]
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    digest = hashlib.sha256(served.db.read_bytes()).hexdigest()
    for _ in range(3):
        with urllib.request.urlopen(served.url, timeout=30) as response:
            assert response.status == 200
    assert hashlib.sha256(served.db.read_bytes()).hexdigest() == digest

    queue = Queue.open(str(served.db))                  # a worker, while the server runs
    queue.resume()
    job = queue.claim(SWEEP, "w3")
    assert job is not None
    queue.complete(job.job_id, "w3", Result(passed=True, detail="passed", wall_seconds=1.0,
                                            sub_calls=1))
    queue.close()
    _, after = fetch("/status.json")
    assert after["states"]["done"] == before["states"]["done"] + 1
    assert after["pause"] is None
