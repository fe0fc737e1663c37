"""Built-in and custom arms, driven through JobClient against the fake API.

Built-in arms run on `InProcessBackend`: the real `anthropic` SDK and the fake's engine,
without a socket (test_fake_inprocess.py holds it to the HTTP fake). Custom arms run
end to end: real `sweepq` processes over HTTP to `FakeAPI` on 127.0.0.1. Two ways to
control what the "models" say: the fake's answer key with a per-model accuracy (1.0
always right, 0.0 always wrong), or `fake.script()` for exact response texts. Scripted
replies are served in arrival order, and the two persona calls of an echo arm race each
other, so tests that need to know which text was persona A read it from the call
journal (call_index 0), not the script.
"""

from __future__ import annotations

import itertools
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import cli_env, run_cli

from sweepq import arm_registry
from sweepq.arms import BUILTIN, JUDGE_SYSTEM, PERSONA_A, PERSONA_B, judge_prompt
from sweepq.bbh import load_tasks
from sweepq.bbh_answers import score
from sweepq.errors import SweepqError
from sweepq.fake import FakeConfig
from sweepq.fake.inprocess import InProcessBackend
from sweepq.models import DEFAULT_MODELS, JobClient, request_hash
from sweepq.queue import Queue, Sweep
from sweepq.task import Task

HAIKU, SONNET = DEFAULT_MODELS["haiku"], DEFAULT_MODELS["sonnet"]


def reply(text: str, model: str = HAIKU) -> dict:
    """A scripted 200 with exactly this text."""
    return {"status": 200, "body": {
        "id": "msg_scripted", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": {"input_tokens": 50, "output_tokens": 10}}}


@pytest.fixture
def tasks(sample_bbh: Path) -> list[Task]:
    return load_tasks(["boolean_expressions", "web_of_lies"], 3, 0, str(sample_bbh))


@pytest.fixture
def task(tasks: list[Task]) -> Task:
    return tasks[0]                  # boolean_expressions: choices (A) True, (B) False


def right(task: Task, preamble: str = "Step by step.") -> str:
    return f"{preamble}\nAnswer: {task.answer}"


def wrong(task: Task, preamble: str = "Quickly.") -> str:
    other = next(label for label, _ in task.choices if label != task.answer)
    return f"{preamble}\nAnswer: {other}"


class Runner:
    """Runs one arm on one task as the worker would: enqueue, claim, JobClient, arm."""

    def __init__(self, db_path: Path, fake: InProcessBackend):
        self.fake = self.backend = fake
        self.queue = Queue.open(str(db_path))
        self._names = itertools.count()

    def run(self, arm: str, task: Task, models: dict[str, str] | None = None,
            arm_fn=None) -> tuple[str, JobClient]:
        sweep = Sweep(name=f"s{next(self._names)}", arms=[arm],
                      models=models or dict(DEFAULT_MODELS))
        self.queue.enqueue(sweep, [(task.task_id, task.payload())])
        job = self.queue.claim(sweep.name, "test-worker")
        assert job is not None
        client = JobClient(self.queue, job, self.backend, sweep.models)
        output = (arm_fn or BUILTIN[arm])(Task.from_payload(job.task), client)
        return output, client

    def journal(self, client: JobClient) -> list:
        return sorted(self.queue.journal(client.job.job_id), key=lambda c: c.call_index)


def keyed_fake(tasks: list[Task], haiku: float, sonnet: float, **kw) -> InProcessBackend:
    return InProcessBackend(FakeConfig(answer_key={t.prompt: t.answer for t in tasks},
                                       accuracy={"haiku": haiku, "sonnet": sonnet}, **kw))


@pytest.fixture
def runner(db_path: Path) -> Iterator[Runner]:
    r = Runner(db_path, InProcessBackend())
    yield r
    r.queue.close()


# -- single-call arms ----------------------------------------------------------


@pytest.mark.parametrize("arm,model", [("haiku-only", HAIKU), ("sonnet-only", SONNET)])
@pytest.mark.parametrize("accuracy,passes", [(1.0, True), (0.0, False)])
def test_single_call_arms(tasks, db_path, arm, model, accuracy, passes):
    fake = keyed_fake(tasks, accuracy, accuracy)
    runner = Runner(db_path, fake)
    for task in tasks:
        output, client = runner.run(arm, task)
        assert client.calls == 1
        assert score(output, task)[0] is passes, output
        (call,) = runner.journal(client)
        assert call.request_hash == request_hash(model, PERSONA_A, task.prompt, 1024)
    assert fake.stats()["successes_by_model"] == {model: len(tasks)}


# -- echo-lexical ----------------------------------------------------------------


def test_echo_lexical_agree_accepts_persona_a(runner, task):
    runner.fake.script([reply(right(task, "Careful reasoning.")), reply(right(task, "Fast."))])
    output, client = runner.run("echo-lexical", task)
    a, b = runner.journal(client)
    assert client.calls == 2 and output == a.response_text != b.response_text
    assert runner.fake.stats()["successes_by_model"] == {HAIKU: 2}
    assert {a.request_hash, b.request_hash} == {
        request_hash(HAIKU, PERSONA_A, task.prompt, 1024),
        request_hash(HAIKU, PERSONA_B, task.prompt, 1024)}
    assert a.request_hash == request_hash(HAIKU, PERSONA_A, task.prompt, 1024)


def test_echo_lexical_disagree_escalates_to_sonnet(runner, task):
    runner.fake.script([reply(right(task)), reply(wrong(task)), reply("Sonnet.\nAnswer: A",
                                                                      SONNET)])
    output, client = runner.run("echo-lexical", task)
    assert client.calls == 3 and output == "Sonnet.\nAnswer: A"
    assert runner.fake.stats()["successes_by_model"] == {HAIKU: 2, SONNET: 1}
    assert runner.journal(client)[2].model == SONNET


@pytest.mark.parametrize("a,b,calls", [
    ("I cannot tell.\n", "I  cannot\n\ttell.", 2),        # neither parses, same words
    ("I cannot tell.", "No idea at all.", 3),             # neither parses, different
    ("I cannot tell.", "Answer: A", 3),                   # one parses: disagreement
])
def test_echo_lexical_unparseable(runner, task, a, b, calls):
    runner.fake.script([reply(a), reply(b)])
    output, client = runner.run("echo-lexical", task)
    assert client.calls == calls
    journal = runner.journal(client)
    assert output == (journal[0].response_text if calls == 2 else journal[2].response_text)


def test_echo_lexical_with_answer_key(tasks, db_path):
    """Both personas always right → always agree → never pays for sonnet."""
    fake = keyed_fake(tasks, 1.0, 1.0)
    runner = Runner(db_path, fake)
    for task in tasks:
        output, client = runner.run("echo-lexical", task)
        assert client.calls == 2 and score(output, task)[0]
    assert fake.stats()["successes_by_model"] == {HAIKU: 2 * len(tasks)}


def test_persona_calls_run_concurrently(tasks, db_path):
    """The two cheap persona calls overlap at the fake; a single-call arm never does."""
    fake = keyed_fake(tasks, 1.0, 1.0, latency_ms=300)
    runner = Runner(db_path, fake)
    runner.run("haiku-only", tasks[1])
    assert fake.stats()["max_in_flight"] == 1
    _, client = runner.run("echo-lexical", tasks[2])
    assert fake.stats()["max_in_flight"] == 2
    assert client.calls == 2


# -- echo-judge -----------------------------------------------------------------


@pytest.mark.parametrize("verdict,calls", [
    ("YES", 3),
    ("  YES\nBoth pick (A).", 3),
    ("NO", 4),
    ("NO, they differ", 4),
    ("yes, but only just", 4),    # the spec: anything not starting with YES disagrees
    ("Yes", 4),
    ("Maybe YES", 4),
    ("", 4),
])
def test_echo_judge_verdicts(runner, task, verdict, calls):
    runner.fake.script([reply(right(task, "One.")), reply(right(task, "Two.")), reply(verdict)])
    output, client = runner.run("echo-judge", task)
    journal = runner.journal(client)
    assert client.calls == calls == len(journal)
    a, b, judge = journal[:3]
    assert judge.model == HAIKU
    assert judge.request_hash == request_hash(
        HAIKU, JUDGE_SYSTEM, judge_prompt(task, a.response_text, b.response_text), 16)
    if calls == 3:
        assert output == a.response_text
        assert runner.fake.stats()["successes_by_model"] == {HAIKU: 3}
    else:
        assert journal[3].model == SONNET and output == journal[3].response_text
        assert runner.fake.stats()["successes_by_model"] == {HAIKU: 3, SONNET: 1}


def test_echo_judge_against_the_fakes_judge(tasks, db_path):
    """Unscripted: the fake's judge compares the two Answer lines itself."""
    fake = keyed_fake(tasks, 1.0, 1.0)
    runner = Runner(db_path, fake)
    output, client = runner.run("echo-judge", tasks[0])
    assert client.calls == 3 and score(output, tasks[0])[0]
    fake.script([reply(right(tasks[1])), reply(wrong(tasks[1]))])
    output, client = runner.run("echo-judge", tasks[1])
    assert client.calls == 4 and runner.journal(client)[2].response_text.startswith(
        "NO")


# -- echo-oracle ----------------------------------------------------------------


@pytest.mark.parametrize("a_right,b_right", [(True, True), (True, False), (False, True)])
def test_echo_oracle_accepts_a_right_answer(runner, task, a_right, b_right):
    texts = [right(task, "First.") if a_right else wrong(task, "First."),
             right(task, "Second.") if b_right else wrong(task, "Second.")]
    runner.fake.script([reply(texts[0]), reply(texts[1])])
    output, client = runner.run("echo-oracle", task)
    assert client.calls == 2 and score(output, task)[0]
    a, b = runner.journal(client)
    if score(a.response_text, task)[0]:
        assert output == a.response_text          # A first when both are right
    else:
        assert output == b.response_text
    assert runner.fake.stats()["successes_by_model"] == {HAIKU: 2}


def test_echo_oracle_both_wrong_escalates(runner, task):
    runner.fake.script([reply(wrong(task, "x.")), reply(wrong(task, "y.")),
                        reply(right(task, "Sonnet."), SONNET)])
    output, client = runner.run("echo-oracle", task)
    assert client.calls == 3 and output == right(task, "Sonnet.")
    assert runner.fake.stats()["successes_by_model"] == {HAIKU: 2, SONNET: 1}


# -- custom arms ----------------------------------------------------------------

CUSTOM_MODULE = '''
from sweepq.arms import PERSONA_A


def draft_then_sonnet(task, client):
    """Two calls in sequence: a cheap draft, then sonnet sees it."""
    draft = client.call("haiku", task.prompt, system=PERSONA_A)
    return client.call("sonnet", task.prompt + "\\n\\nA draft answer:\\n" + draft,
                       system=PERSONA_A)


ARMS = {"draft-then-sonnet": draft_then_sonnet}
'''


def _results(db: Path) -> list[dict]:
    queue = Queue.open(str(db))
    try:
        return queue.read("SELECT j.arm, j.state, r.sub_calls, r.models, r.passed FROM jobs AS j"
                          " LEFT JOIN results AS r USING (job_id) ORDER BY j.position")
    finally:
        queue.close()


def test_custom_arm_from_arms_module(tmp_path, sample_bbh, db_path, fake_api, monkeypatch):
    pkg = tmp_path / "custom"
    pkg.mkdir()
    (pkg / "my_sweep_arms.py").write_text(CUSTOM_MODULE)
    monkeypatch.syspath_prepend(str(pkg))           # the commands run in this process
    monkeypatch.delitem(sys.modules, "my_sweep_arms", raising=False)
    env = cli_env(fake_api)
    common = ["--sweep", "c", "--subtasks", "web_of_lies", "--n-per-subtask", "3",
              "--dataset", str(sample_bbh)]
    run_cli("enqueue", *common, "--arms", "haiku-only,draft-then-sonnet",
            "--arms-module", "my_sweep_arms", db=db_path, env=env, check=True)
    # The module is not stored with the sweep: a worker without it refuses, touching nothing.
    refused = run_cli("work", "--quiet", db=db_path, env=env)
    assert refused.returncode != 0 and "unknown arm draft-then-sonnet" in refused.stderr
    assert {r["state"] for r in _results(db_path)} == {"pending"}
    run_cli("work", "--quiet", "--arms-module", "my_sweep_arms", db=db_path, env=env,
            check=True)
    rows = _results(db_path)
    assert [r["state"] for r in rows] == ["done"] * 6
    custom = [r for r in rows if r["arm"] == "draft-then-sonnet"]
    assert all(r["sub_calls"] == 2 and r["models"] == f'["{HAIKU}", "{SONNET}"]' for r in custom)
    assert fake_api.stats()["successes_by_model"] == {HAIKU: 6, SONNET: 3}


def test_custom_arm_from_entry_point(tmp_path, sample_bbh, db_path, fake_api, monkeypatch):
    """A real installed-distribution layout: a dist-info with entry_points.txt on the path."""
    site = tmp_path / "site"
    dist = site / "sweepq_test_arms-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sweepq-test-arms\n"
                                   "Version: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[sweepq.arms]\nsonnet-twice = sweepq_test_arms:sonnet_twice\n")
    (site / "sweepq_test_arms.py").write_text(textwrap.dedent('''
        def sonnet_twice(task, client):
            a, b = client.call_many([("sonnet", task.prompt, None),
                                     ("sonnet", task.prompt, "Be brief.")])
            return a
    '''))
    monkeypatch.syspath_prepend(str(site))          # the commands run in this process
    monkeypatch.delitem(sys.modules, "sweepq_test_arms", raising=False)
    env = cli_env(fake_api)
    arm_registry.entry_point_arms.cache_clear()      # read once per process: read it again
    try:
        run_cli("enqueue", "--sweep", "ep", "--subtasks", "boolean_expressions",
                "--n-per-subtask", "2", "--arms", "sonnet-twice", "--dataset",
                str(sample_bbh), db=db_path, env=env, check=True)
        run_cli("work", "--quiet", db=db_path, env=env, check=True)
    finally:
        arm_registry.entry_point_arms.cache_clear()  # no other test sees this distribution
    rows = _results(db_path)
    assert [(r["state"], r["sub_calls"]) for r in rows] == [("done", 2)] * 2
    assert fake_api.stats()["successes_by_model"] == {SONNET: 4}


def test_registry_errors(tmp_path, monkeypatch):
    with pytest.raises(SweepqError, match="unknown arm nope: known arms are echo-ast, echo-judge"):
        arm_registry.validate(["nope"])
    with pytest.raises(SweepqError, match="cannot import `arms_module`"):
        arm_registry.validate(["haiku-only"], "no_such_module_for_sweepq")
    (tmp_path / "no_arms_here.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SweepqError, match="has no ARMS dict"):
        arm_registry.validate(["haiku-only"], "no_arms_here")
    with pytest.raises(SweepqError, match="listed twice"):
        arm_registry.validate(["haiku-only", "haiku-only"])
    assert list(arm_registry.validate(["sonnet-only", "haiku-only"])) == ["sonnet-only",
                                                                      "haiku-only"]


def test_a_judge_is_an_option_and_the_old_variants_are_built_in() -> None:
    from sweepq.arm_registry import split_options, validate

    assert split_options("echo-judge[judge=openai:gpt-5.4-mini]@terse") == (
        "echo-judge@terse", {"judge": "openai:gpt-5.4-mini"})
    arms = validate(["echo-judge", "echo-judge[judge=judge]", "echo-judge-gemini-flash"])
    assert arms["echo-judge[judge=judge]"].keywords == {"judge": "judge"}
    assert arms["echo-judge-gemini-flash"].keywords == {"judge": "gemini-flash"}


@pytest.mark.parametrize("names, message", [
    (["haiku-only[judge=x]"], "takes no option judge"),
    (["echo-judge[judge]"], "is not KEY=VALUE"),
    (["echo-judge[judge=a]", "echo-judge[judge=a]"], "listed twice"),
])
def test_arm_options_it_does_not_take_are_refused(names, message) -> None:
    from sweepq.arm_registry import validate

    with pytest.raises(SweepqError, match=message):
        validate(names)


def test_the_entry_points_are_read_once_per_process(monkeypatch):
    """Reading every distribution's metadata is slow; `registry` runs at each enqueue,
    bind and check, so the arms of group `sweepq.arms` are looked up once."""
    import importlib.metadata

    seen = []
    real = importlib.metadata.entry_points
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda **kw: seen.append(kw) or real(**kw))
    arm_registry.entry_point_arms.cache_clear()
    try:
        arm_registry.registry()
        arm_registry.validate(["haiku-only"])
        arm_registry.registry()
    finally:
        arm_registry.entry_point_arms.cache_clear()
    assert seen == [{"group": "sweepq.arms"}]
