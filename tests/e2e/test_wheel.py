"""The wheel is the product: every package and data file in it, and a person's first three
commands (`--help`, `fake-api`, the demo) working from it, with no source tree in reach."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
import subprocess
import sys
import tomllib
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, cli_env

from sweepq import db


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


# -- the wheel --------------------------------------------------------------------------------

def _build_wheel(tmp_path: Path) -> Path:
    """Build a wheel from a copy of the source (the shared tree gets no build/ droppings)."""
    if importlib.util.find_spec("build") is None:
        pytest.skip("the `build` package is not installed (pip install -e '.[dev]')")
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "sweepq", src / "sweepq", ignore=ignore)
    shutil.copytree(ROOT / "migrations", src / "migrations", ignore=ignore)
    out = tmp_path / "dist"
    argv = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(src)]
    if _backend_installed():
        argv.insert(4, "--no-isolation")  # offline: use this interpreter's setuptools
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        if "--no-isolation" not in argv and "build-requirements" in done.stdout + done.stderr:
            pytest.skip("cannot install the build backend (setuptools>=68, wheel) offline")
        raise AssertionError(f"wheel build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    wheels = list(out.glob("sweepq-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def _backend_installed() -> bool:
    """setuptools 77 reads the SPDX `license = "MIT"` and builds wheels by itself."""
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


@pytest.mark.slow   # over 4 s on an idle machine: the fast suite stays under a minute
def test_the_wheel_ships_the_migrations_and_works_installed(tmp_path: Path) -> None:
    wheel_path = _build_wheel(tmp_path)
    files = set(zipfile.ZipFile(wheel_path).namelist())
    for _, name, _ in db.migrations():
        assert f"sweepq/migrations/{name}" in files
    assert "sweepq/migrations/__init__.py" in files
    assert {"sweepq/prompt_sets/default.toml", "sweepq/prompt_sets/echo-parity.toml",
            "sweepq/prompt_sets/groups/humaneval.toml"} <= files

    # A fresh venv with only the wheel in it; the dependencies (click, datasets…) come
    # from this interpreter's site-packages, appended after the venv's own, so the
    # sweepq that runs is the installed one, never the source tree.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "--no-index", "--quiet", str(wheel_path)],
                   check=True, capture_output=True, timeout=120)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True, text=True)
    deps = [p for p in sys.path if p.endswith("site-packages")]
    Path(site.stdout.strip(), "zz_deps.pth").write_text("\n".join(deps) + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in cli_env().items() if k != "PYTHONPATH"}
    probe = subprocess.run(
        [str(python), "-c",
         "import sweepq, sweepq.db as d; print(sweepq.__file__); c = d.connect('fresh.db');"
         " print(c.execute('PRAGMA user_version').fetchone()[0])"],
        cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    location, version = probe.stdout.split()
    assert Path(location).is_relative_to(env_dir), location
    assert int(version) == db.schema_version()

    script = env_dir / "bin" / "sweepq"
    rows = [{"task_id": "bbh/x/0", "arm": "a", "passed": True, "detail": "passed",
             "wall_seconds": 1.5, "sub_calls": 1}]
    (work / "old.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for args in (["import", "old.jsonl"], ["status", "--json"], ["export", "out.jsonl"]):
        done = subprocess.run([str(script), "--db", "cli.db", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    assert (work / "out.jsonl").read_bytes() == (work / "old.jsonl").read_bytes()
    with sqlite3.connect(work / "cli.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.schema_version()
    assert not (ROOT / "fresh.db").exists() and not (ROOT / "cli.db").exists()
