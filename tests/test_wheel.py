"""The wheel is the product: every package and data file in it, and a person's first three
commands (`--help`, `fake-api`, the demo) working from it, with no source tree in reach."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, cli_env
from test_db import _build_wheel


def _source_packages() -> set[str]:
    """Every package of the source tree: each folder of sweepq/ with an __init__.py."""
    return {".".join(p.parent.relative_to(ROOT).parts)
            for p in (ROOT / "sweepq").rglob("__init__.py") if "__pycache__" not in p.parts}


def test_pyproject_lists_every_subpackage_of_the_source_tree() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    missing = _source_packages() - listed
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"
    assert "sweepq.migrations" in listed


def _install(wheel_path: Path, env_dir: Path) -> Path:
    """A fresh venv holding only the wheel; the dependencies (already installed here) come
    from this interpreter's site-packages, appended after the venv's own, so the sweepq
    that runs is the installed one."""
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                           "--no-deps", "--no-index", str(wheel_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "deprecat" not in (done.stdout + done.stderr).lower(), done.stdout + done.stderr
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True, text=True)
    deps = [p for p in sys.path if p.endswith("site-packages")]
    Path(site.stdout.strip(), "zz_deps.pth").write_text("\n".join(deps) + "\n")
    return env_dir / "bin"


def _post_message(url: str) -> dict:
    body = json.dumps({"model": "claude-haiku-4-5", "max_tokens": 16,
                       "messages": [{"role": "user", "content": "Say hi"}]}).encode()
    request = urllib.request.Request(f"{url}/v1/messages", data=body, method="POST", headers={
        "content-type": "application/json", "x-api-key": "dry-run",
        "anthropic-version": "2023-06-01"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())


@pytest.mark.slow  # 15-35 s: a wheel build, a venv and the whole demo
def test_the_installed_wheel_runs_help_the_fake_api_and_the_demo(tmp_path: Path) -> None:
    wheel_path = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel_path).namelist()
    packages = {n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.endswith("__init__.py")}
    assert _source_packages() <= packages, sorted(_source_packages() - packages)
    assert any(n.startswith("sweepq/migrations/0001_") for n in names)

    bin_dir = _install(wheel_path, tmp_path / "venv")
    work = tmp_path / "elsewhere"      # no source tree, no ../shared/bbh
    work.mkdir()
    env = {k: v for k, v in cli_env().items() if k != "PYTHONPATH"}

    def run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True,
                              timeout=timeout)

    helped = run(str(bin_dir / "sweepq"), "--help")
    assert helped.returncode == 0, helped.stderr
    assert "fake-api" in helped.stdout and "enqueue" in helped.stdout
    assert helped.stderr == ""

    server = subprocess.Popen([str(bin_dir / "sweepq"), "fake-api", "--port", "0"], cwd=work,
                              env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        reply = _post_message(line.rsplit(" ", 1)[1].strip())
        assert reply["type"] == "message" and reply["content"][0]["text"]
    finally:
        server.terminate()
        server.wait(timeout=10)

    demo = run(str(bin_dir / "python"), "-m", "sweepq.demo", timeout=240)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "demo: finished" in demo.stdout
    assert "Traceback" not in demo.stderr and "internal error" not in demo.stderr
    rows = (work / "demo-results.jsonl").read_text().splitlines()
    assert json.loads(rows[0])["_meta"] and len(rows) == 1 + 30 * 5
    # The notebook line, on the demo's database, from the installed package.
    rates = run(str(bin_dir / "python"), "-c", "import sweepq; print(sweepq.open('demo.db')"
                ".results_df('demo').groupby('arm').passed.mean())")
    assert rates.returncode == 0, rates.stderr
    assert {"haiku-only", "sonnet-only", "echo-judge"} <= set(rates.stdout.split())
    where = run(str(bin_dir / "python"), "-c", "import sweepq; print(sweepq.__file__)")
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "venv"), where.stdout
