"""The generated command reference matches the commands as they are."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_commands", ROOT / "docs" / "gen_commands.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_command_reference_is_current():
    gen = _generator()
    assert gen.TARGET.read_text() == gen.render(), "docs/commands.md is stale: run `make docs`"


def test_command_reference_covers_every_command():
    from sweepq.cli import main

    text = _generator().TARGET.read_text()
    for name in main.list_commands(None):
        assert f"## `sweepq {name}`" in text
