"""Prompt sets through whole sweeps: what the fake receives, resumes and retries after the
file is gone, an ablation through a real `sweepq work`, and refusals that write nothing."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import run_cli

from sweepq import arm_registry, bbh
from sweepq.fake import FakeAPI, FakeConfig
from sweepq.fake.inprocess import InProcessBackend
from sweepq.models import DEFAULT_MODELS
from sweepq.prompts import default_set, parse
from sweepq.prompts_toml import render
from sweepq.queue import Queue
from sweepq.task import Task
from sweepq.worker import EXIT_TEMPFAIL, Worker, WorkerConfig

HAIKU, SONNET = DEFAULT_MODELS["haiku"], DEFAULT_MODELS["sonnet"]
SUBTASKS = "web_of_lies,object_counting"


def custom_text(marker: str = "TERSE") -> str:
    """A set sharing no text with the default: other templates, words, rule and limits."""
    data = json.loads(json.dumps(default_set().data))
    data["task"].update(
        multiple_choice=f"[{marker}] {{question}}\nChoices:\n{{options}}\nEnd with Answer: X.",
        option="{label}) {text}",
        free_form=f"[{marker}] {{question}}\nEnd with Answer: {{hint}}.",
        default_hint="the answer", hints={"object_counting": f"a count ({marker})"})
    data["personas"] = {"a": f"{marker} persona A.", "b": f"{marker} persona B."}
    data["judge"] = {"system": f"{marker} judge.",
                     "question": f"[{marker}] Same choice?\n#1\n{{a}}\n#2\n{{b}}\n"
                                 "Task:\n{question}\nSay SAME or DIFFERENT.",
                     "agreement": r"regex:SAME\b", "agree": "SAME", "disagree": "DIFFERENT"}
    data["max_tokens"] = {"answer": 512, "judge": 8}
    return render(data)


@pytest.fixture
def dataset(sample_bbh: Path, tmp_path: Path) -> Path:
    """The sample (two multiple-choice subtasks) plus a free-form one."""
    folder = Path(shutil.copytree(sample_bbh, tmp_path / "bbh"))
    examples = [{"input": f"I have {n} apples and a pear. How many fruits?",
                 "target": str(n + 1)} for n in range(1, 9)]
    (folder / "object_counting.json").write_text(json.dumps({"examples": examples}))
    return folder


class RecordingBackend(InProcessBackend):
    """The in-process fake, keeping the body of every /v1/messages request it receives."""

    def __init__(self, config: FakeConfig) -> None:
        super().__init__(config)
        self.bodies: list[dict] = []

    def _respond(self, request):  # noqa: ANN001 - httpx's request
        if request.url.path == "/v1/messages":
            self.bodies.append(json.loads(request.read()))
        return super()._respond(request)


def keyed(tasks: list[Task], sets, **kw) -> FakeConfig:
    key = {s.task_prompt(t.subtask, t.question, t.choices): t.answer for t in tasks for s in sets}
    return FakeConfig(answer_key=key, accuracy={"haiku": 0.6, "sonnet": 0.9},
                      prompt_sets=tuple(sets), **kw)


def enqueue(db: Path, dataset: Path, arm_list: str, *extra: str, n: int = 4, check=True):
    return run_cli("enqueue", "--sweep", "p", "--subtasks", SUBTASKS, "--n-per-subtask",
                   str(n), "--arms", arm_list, "--dataset", str(dataset), *extra, db=db,
                   check=check)


def run_worker(db: Path, backend, max_wait: float | None = None):
    queue = Queue.open(str(db))
    try:
        sweep = queue.resolve_sweep("p")
        worker = Worker(queue, sweep, arm_registry.for_sweep(sweep.arms, sweep.prompts), backend,
                        WorkerConfig(concurrency=2, max_wait=max_wait))
        return worker.run()
    finally:
        queue.close()


def sent(body: dict) -> tuple[str, str | None, str, int]:
    return (body["model"], body.get("system"), body["messages"][-1]["content"],
            body["max_tokens"])


def assert_only_custom(bodies: list[dict], custom, tasks: list[Task]) -> None:
    """Every request is one the custom set defines, for one of the tasks."""
    prompts = {custom.task_prompt(t.subtask, t.question, t.choices) for t in tasks}
    for model, system, user, max_tokens in map(sent, bodies):
        if system == custom.judge_system:
            judged = custom.read_judge(user)
            assert judged is not None and judged[0] in prompts, user
            assert (model, max_tokens) == (HAIKU, 8)
        else:
            assert system in (custom.persona_a, custom.persona_b), system
            assert user in prompts and max_tokens == 512, (user, max_tokens)
            assert model in (HAIKU, SONNET) and (model == HAIKU or system == custom.persona_a)


def test_a_custom_set_sends_exactly_its_texts(dataset, db_path, tmp_path):
    file = tmp_path / "terse.toml"
    file.write_text(custom_text())
    enqueue(db_path, dataset, "haiku-only,echo-judge", "--prompts", str(file))
    custom = parse(custom_text(), "x")
    tasks = bbh.load_tasks(SUBTASKS.split(","), 4, 0, str(dataset))
    backend = RecordingBackend(keyed(tasks, [custom]))
    assert run_worker(db_path, backend).exit_code == 0
    assert_only_custom(backend.bodies, custom, tasks)
    got = {sent(b) for b in backend.bodies}
    for t in tasks:   # haiku-only's one call and echo-judge's two personas, exactly
        p = custom.task_prompt(t.subtask, t.question, t.choices)
        assert {(HAIKU, custom.persona_a, p, 512), (HAIKU, custom.persona_b, p, 512)} <= got
    assert "a count (TERSE)" in "".join(u for _, _, u, _ in got)          # the set's hint
    with sqlite3.connect(db_path) as conn:
        calls = dict(conn.execute("SELECT r.sub_calls, count(*) FROM results r JOIN jobs j"
                                  " USING (job_id) WHERE j.arm = 'echo-judge' GROUP BY 1"))
        passed = conn.execute("SELECT sum(passed) FROM results").fetchone()[0]
    assert set(calls) == {3, 4}   # the custom verdict words both agree and escalate
    assert passed > 0             # the fake read the custom option lines


def test_resumed_and_retried_jobs_use_the_stored_set_after_the_file_is_gone(
        dataset, db_path, tmp_path):
    file = tmp_path / "mine.toml"
    file.write_text(custom_text())
    enqueue(db_path, dataset, "echo-judge,haiku-only", "--prompts", str(file))
    file.write_text(custom_text("CHANGED"))
    custom = parse(custom_text(), "x")
    tasks = bbh.load_tasks(SUBTASKS.split(","), 4, 0, str(dataset))
    first = RecordingBackend(keyed(tasks, [custom], exhaust_after=6, exhaust_for=3600))
    assert run_worker(db_path, first, max_wait=0).exit_code == EXIT_TEMPFAIL   # paused
    file.unlink()
    Queue.open(str(db_path)).resume()
    second = RecordingBackend(keyed(tasks, [custom]))
    assert run_worker(db_path, second).exit_code == 0                       # resumed
    with sqlite3.connect(db_path) as conn:
        before = conn.execute("SELECT job_id, output FROM results ORDER BY job_id").fetchall()
        conn.execute("UPDATE jobs SET state = 'error' WHERE job_id IN"
                     " (SELECT job_id FROM jobs WHERE state = 'done' LIMIT 5)")
    assert Queue.open(str(db_path)).retry("p") == 5
    third = RecordingBackend(keyed(tasks, [custom]))
    assert run_worker(db_path, third).exit_code == 0                        # retried
    for backend in (first, second):
        assert backend.bodies
        assert_only_custom(backend.bodies, custom, tasks)
        assert not any("CHANGED" in json.dumps(b) for b in backend.bodies)
    assert third.bodies == []   # every call of the retried jobs replayed: the same requests
    with sqlite3.connect(db_path) as conn:
        after = conn.execute("SELECT job_id, output FROM results ORDER BY job_id").fetchall()
        assert conn.execute("SELECT count(*) FROM jobs WHERE state != 'done'").fetchone()[0] == 0
    assert sorted(after) == sorted(before)


def test_an_ablation_runs_end_to_end_and_summary_pairs_the_two_sets(dataset, db_path,
                                                                    tmp_path):
    file = tmp_path / "terse.toml"
    file.write_text(custom_text())
    enqueue(db_path, dataset, "haiku-only,haiku-only@terse,echo-judge@terse",
            "--prompts", f"terse={file}", n=6)
    custom = parse(custom_text(), "x")
    tasks = bbh.load_tasks(SUBTASKS.split(","), 6, 0, str(dataset))
    with FakeAPI(keyed(tasks, [default_set(), custom])) as fake:
        work = run_cli("work", "--concurrency", "4", db=db_path, fake=fake, check=True)
    assert "18 pending" not in work.stdout and ", 0 pending" in work.stdout
    done = run_cli("summary", "--baseline", "haiku-only", "--json", db=db_path, check=True)
    by_arm = {a["arm"]: a for a in json.loads(done.stdout)["arms"]}
    paired = by_arm["haiku-only@terse"]["vs_baseline"]
    assert paired["baseline"] == "haiku-only" and paired["n"] == len(tasks)
    assert "p_value" in paired
    judge = by_arm["echo-judge@terse"]
    assert judge["escalated"] is not None and judge["n"] == len(tasks)
    with sqlite3.connect(db_path) as conn:
        systems = dict(conn.execute(
            "SELECT j.arm, count(*) FROM calls c JOIN jobs j USING (job_id) GROUP BY j.arm"))
    assert systems["haiku-only"] == systems["haiku-only@terse"] == len(tasks)
    shown = run_cli("requests", "--task", tasks[0].task_id, "--arm", "haiku-only@terse",
                    db=db_path, check=True).stdout
    assert custom.persona_a in shown and "[TERSE]" in shown and "max_tokens 512" in shown


def _dump(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


@pytest.mark.parametrize(("edit", "says"), [
    (lambda t: t.replace("{options}", "{choices}"), "task.multiple_choice: unknown placeholder"),
    (lambda t: t.replace("#1\n{a}", "#1"), "judge.question: missing placeholder {a}"),
    (lambda t: t.replace(r"regex:SAME\\b", "regex:SAME("), "judge.agreement: the regular"),
    (lambda t: t.replace('a = "TERSE persona A."', 'a = " "'), "personas.a: is empty"),
    (lambda t: t + "\n[oops\n", "not valid TOML"),
])
def test_refusals_write_nothing(dataset, db_path, tmp_path, edit, says):
    enqueue(db_path, dataset, "haiku-only")
    before = _dump(db_path)
    file = tmp_path / "bad.toml"
    file.write_text(edit(custom_text()))
    for sweep_args in (["--sweep", "new"], ["--sweep", "p"]):
        done = run_cli("enqueue", *sweep_args, "--subtasks", SUBTASKS, "--n-per-subtask", "4",
                       "--arms", "haiku-only,haiku-only@x", "--dataset", str(dataset),
                       "--prompts", f"x={file}", db=db_path)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert says in done.stderr and "bad.toml" in done.stderr
        assert _dump(db_path) == before


def test_other_sets_for_an_existing_sweep_and_unknown_set_names_are_refused(
        dataset, db_path, tmp_path):
    file = tmp_path / "mine.toml"
    file.write_text(custom_text())
    enqueue(db_path, dataset, "haiku-only")
    before = _dump(db_path)
    for extra in (["--prompts", str(file)], ["--arms", "haiku-only@nope"]):
        done = run_cli("enqueue", "--sweep", "p", "--subtasks", SUBTASKS, "--n-per-subtask",
                       "4", "--arms", "haiku-only", "--dataset", str(dataset), *extra,
                       db=db_path)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert ("other prompt sets" in done.stderr or "prompt set 'nope'" in done.stderr)
        assert _dump(db_path) == before
    again = enqueue(db_path, dataset, "haiku-only")           # the same (default) set: fine
    assert "0 new jobs" in again.stdout


def test_show_init_and_a_sweep_from_before_prompt_sets(dataset, db_path, tmp_path):
    file = tmp_path / "init.toml"
    run_cli("prompts", "init", str(file), check=True)
    assert parse(file.read_text(), "init").sha256 == default_set().sha256
    assert run_cli("prompts", "init", str(file)).returncode == 1          # no overwrite
    enqueue(db_path, dataset, "haiku-only", "--prompts", str(file))
    shown = run_cli("prompts", "show", db=db_path, check=True).stdout
    assert shown.splitlines()[0].startswith("# prompt set default of sweep p, sha256 ")
    assert shown.split("\n", 1)[1] == file.read_text().rstrip("\n") + "\n"
    with sqlite3.connect(db_path) as conn:   # what a database from before prompt sets has
        conn.execute("DELETE FROM prompt_sets")
    assert "built in" in run_cli("prompts", "show", db=db_path, check=True).stdout
    assert "0 new jobs" in enqueue(db_path, dataset, "haiku-only").stdout
    tasks = bbh.load_tasks(SUBTASKS.split(","), 4, 0, str(dataset))
    backend = RecordingBackend(keyed(tasks, []))
    assert run_worker(db_path, backend).exit_code == 0
    assert {sent(b)[2] for b in backend.bodies} == {t.prompt for t in tasks}
