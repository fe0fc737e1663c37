"""`sweepq enqueue` refuses a sweep it could not run: an arm's model alias (a judge's
included) missing from the model map, or a provider whose SDK extra is not installed.
Through the real CLI; the database must be left exactly as it was."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
from conftest import cli_env, run_cli

from sweepq import arm_registry

BASE = ("enqueue", "--sweep", "judges", "--subtasks", "boolean_expressions",
        "--n-per-subtask", "2")


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def enqueue(db: Path, bbh: Path, arm_list: str, *models: str, env=None):
    flags = [f for m in models for f in ("--model", m)]
    return run_cli(*BASE, "--arms", arm_list, "--dataset", str(bbh), *flags, db=db, env=env)


@pytest.fixture
def existing(db_path, sample_bbh) -> Path:
    """A database that already holds another sweep: a refusal must not change a byte."""
    run_cli("enqueue", "--sweep", "other", "--subtasks", "web_of_lies", "--n-per-subtask",
            "2", "--arms", "haiku-only", "--dataset", str(sample_bbh), db=db_path, check=True)
    return db_path


@pytest.mark.parametrize("arm, alias", [
    ("echo-judge-openai", "openai"),              # a built-in variant's judge alias
    ("echo-judge-gemini-flash", "gemini-flash"),
    ("echo-judge[judge=judge]", "judge"),          # an option naming an alias
])
def test_an_arm_whose_alias_is_not_in_the_map_is_refused(existing, sample_bbh, arm, alias):
    before = digest(existing)
    done = enqueue(existing, sample_bbh, f"haiku-only,{arm}")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"arm {arm} calls model alias {alias!r}" in lines[0]
    assert f"--model {alias}=PROVIDER:MODEL" in lines[0]
    assert digest(existing) == before


def test_a_refused_enqueue_creates_no_database(db_path, sample_bbh):
    done = enqueue(db_path, sample_bbh, "echo-judge-openai")
    assert done.returncode != 0 and not db_path.exists()


def test_an_alias_claude_defaults_cover_and_a_mapped_judge_are_accepted(db_path, sample_bbh):
    done = enqueue(db_path, sample_bbh,
                   "echo-judge,echo-judge-openai,echo-judge[judge=openai:gpt-5.4-nano],"
                   "echo-judge[judge=claude-opus-4-6]", "openai=openai:gpt-5.4")
    assert done.returncode == 0, done.stderr
    assert "8 new jobs" in done.stdout


def _without(monkeypatch: pytest.MonkeyPatch, module: str) -> dict[str, str]:
    """This interpreter unable to import `module`, as when its extra is not installed:
    None in `sys.modules`, which both `import` and `importlib.util.find_spec` honour (the
    commands run in this process; the test's end puts the entry back)."""
    monkeypatch.setitem(sys.modules, module, None)
    return cli_env()


@pytest.mark.parametrize("module, arm, model, extra", [
    ("openai", "echo-judge-openai", "openai=openai:gpt-5.4", "openai"),
    ("openai", "echo-judge[judge=small]", "small=local:qwen3:4b", "openai"),
    ("openai", "echo-judge[judge=r]", "r=openai-responses:gpt-5.4", "openai"),
    ("google.genai", "echo-judge-gemini-flash", "gemini-flash=gemini:gemini-2.5-flash",
     "gemini"),
])
def test_a_provider_without_its_sdk_is_refused_naming_the_extra(existing, sample_bbh,
                                                                monkeypatch, module, arm,
                                                                model, extra):
    before = digest(existing)
    done = enqueue(existing, sample_bbh, arm, model, env=_without(monkeypatch, module))
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"pip install 'sweepq[{extra}]'" in done.stderr and arm in done.stderr
    assert digest(existing) == before


def test_the_same_sweep_without_the_vendor_arm_needs_no_vendor_sdk(db_path, sample_bbh,
                                                                   monkeypatch):
    env = _without(monkeypatch, "openai")
    done = enqueue(db_path, sample_bbh, "haiku-only,echo-judge", "x=openai:gpt-5.4", env=env)
    assert done.returncode == 0, done.stderr


def test_models_called_reads_variants_options_and_declarations():
    known = arm_registry.validate(["echo-judge", "echo-small-judge", "echo-judge[judge=j]"])
    assert arm_registry.models_called(known["echo-judge"]) == ("haiku", "sonnet")
    assert arm_registry.models_called(known["echo-small-judge"]) == ("haiku", "sonnet", "small")
    assert arm_registry.models_called(known["echo-judge[judge=j]"]) == ("haiku", "sonnet", "j")

    def custom(task, client):
        return ""

    assert arm_registry.models_called(custom) is None        # undeclared: not checked
    custom.models = ("opus",)
    assert arm_registry.models_called(custom) == ("opus",)


def test_models_refuses_an_alias_whose_provider_sdk_is_missing(existing, monkeypatch):
    before = digest(existing)
    env = _without(monkeypatch, "google.genai")
    done = run_cli("models", "--sweep", "other", "haiku=gemini:gemini-2.5-flash",
                   db=existing, env=env)
    assert done.returncode != 0 and "pip install 'sweepq[gemini]'" in done.stderr
    assert "alias haiku calls gemini:gemini-2.5-flash" in done.stderr
    assert digest(existing) == before
