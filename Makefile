# One command per job on a fresh clone: each target installs first when .venv is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m sweepq.demo

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check sweepq tests bench

clean:
	rm -rf $(VENV) build dist *.egg-info demo.db* demo-results.jsonl
