# One command per job on a fresh clone: each target installs first when .venv is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Some machines set PYTHONDONTWRITEBYTECODE: then every process the suite starts compiles
# sweepq, the SDKs and pandas from source again, and pytest rewrites every test module in
# each of its workers (a fifth of the fast suite's CPU here). The caches live in the clone.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install install-min test test-slow test-min demo demo-vendors demo-humaneval bench bench-cost lint docs clean

install: $(STAMP)

# uv (from PyPI, into the venv) resolves and installs the dev extra in seconds where pip
# took over a minute; the same uv installs the lowest versions for test-min. The venv
# starts without pip (ensurepip was half of the install's time): uv comes from the
# interpreter's own pip, or from the venv's after ensurepip when it has none, and then
# installs pip into the venv with the rest. Modules are compiled as they are first
# imported (compiling all 11,000 at install took 16 s here and saved the suite nothing).
# pip takes `--python` before its subcommand only (after it, pip refuses and the slower
# ensurepip path ran every time: 10 s for the install instead of ~6).
UV_ARGS := install --quiet --disable-pip-version-check 'uv>=0.4'
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv --without-pip $(VENV)
	test -x $(BIN)/uv || $(PYTHON) -m pip --python $(BIN)/python $(UV_ARGS) \
		|| { $(BIN)/python -m ensurepip --default-pip && $(BIN)/python -m pip $(UV_ARGS); }
	$(BIN)/uv pip install --quiet --python $(BIN)/python pip -e '.[dev]'
	touch $(STAMP)

# The suite without the minutes-long runs; `test-slow` runs the rest. Four workers on two
# cores: most tests wait on real processes, sockets and sleeps, so two a core keep both
# busy; worksteal lets an idle worker take queued tests from a busy one, so one long test
# does not leave the others waiting at the end. Property tests run a third of their examples
# (the "fast" Hypothesis profile, tests/conftest.py); `test-slow` runs them at full strength.
PYTEST_FAST := -m "not slow" -n 4 --dist worksteal --hypothesis-profile=fast
# The tests' temporary folders on tmpfs where the machine has one that runs programs: the
# suite makes hundreds of SQLite files, and on a disk each commit and close waits for it.
TEST_TMPDIR := $(shell test -w /dev/shm && ! grep -qs ' /dev/shm .*noexec' /proc/mounts \
	&& echo /dev/shm)
TEST_ENV := HF_HUB_OFFLINE=1 $(if $(TEST_TMPDIR),TMPDIR=$(TEST_TMPDIR))
test: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest $(PYTEST_FAST)

# Also the property tests at full strength, and the real `claude` binary:
# tests/claude_real.py installs @anthropic-ai/claude-code at its pinned version from npm
# into .cache/claude-cli/ once.
# Four workers on two cores, as for `test`: these tests mostly wait on processes, pauses
# and leases. conftest.py's scheduler for loadscope hands out one test at a time (the
# browser's module whole), the longest first (LONGEST_FIRST).
test-slow: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -m "slow or hypothesis" -n 4 --dist loadscope \
		--no-loadscope-reorder

# The declared lower bounds, tested: every direct dependency at its lowest allowed version.
# Installed by a target of its own, so .ci/run can install them while the slow suite runs.
MIN := .venv-min
MIN_STAMP := $(MIN)/.installed
install-min: $(MIN_STAMP)

$(MIN_STAMP): pyproject.toml $(STAMP)
	test -d $(MIN) || $(BIN)/uv venv --quiet --seed --python $(PYTHON) $(MIN)
	$(BIN)/uv pip install --quiet --python $(MIN)/bin/python --resolution lowest-direct \
		-e '.[dev]'
	touch $(MIN_STAMP)

test-min: $(MIN_STAMP)
	$(TEST_ENV) $(MIN)/bin/python -m pytest -q $(PYTEST_FAST)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m sweepq.demo

# The same offline, with an OpenAI and a Gemini judge beside Claude's, each on its fake.
demo-vendors: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m sweepq.demo --vendors

# A HumanEval sweep offline: the fake's code really run against the tests in the sandbox.
demo-humaneval: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m sweepq.demo --benchmark humaneval

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/run_all.py

# Few-shot cost alone (issue 22): BBH 3-shot CoT live/batch x cached/not, as JSON rows
# (`make bench` puts them in BENCHMARKS.md). Needs ../shared/bbh.
bench-cost: $(STAMP)
	$(BIN)/python bench/bench_cost.py

# The command reference, generated from every command's --help, and the generated sections
# of docs/ (the default prompt set, the schema); tests/unit/test_docs.py checks them.
docs: $(STAMP)
	$(BIN)/python docs/gen_commands.py
	$(BIN)/python docs/gen_sections.py

lint: $(STAMP)
	$(BIN)/ruff check sweepq tests bench

clean:
	rm -rf $(VENV) $(MIN) build dist *.egg-info demo.db* demo-results.jsonl demo-vendors.db* \
	demo-vendors-results.jsonl demo-humaneval.db* demo-humaneval-results.jsonl
