# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv when missing and (re)install only when pyproject.toml changed.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kb-installed
# The CPU build on this machine's disk; an unpinned torch resolves to a multi-GB CUDA build.
TORCH  ?= torch==2.13.0
export KB_CACHE_DIR ?= $(CURDIR)/.cache/kb

# The install users have: a wheel with no extras, in a venv of its own (only torch,
# from this machine's disk, then the wheel and its dependencies).
MINIMAL := .cache/minimal-venv

.PHONY: setup demo test lint bench clean check-minimal check-other-cpu check-gpu

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check "$(TORCH)"
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[check,dev]"
	touch $(STAMP)

demo: setup
	@echo '$$ kb search conv2d';                          $(BIN)/kb search conv2d --limit 3
	@echo; echo '$$ kb search 解压';                      $(BIN)/kb search 解压 --lang zh --limit 2
	@echo; echo '$$ kb show view-reshape';                $(BIN)/kb show view-reshape
	@echo; echo '$$ kb run view-reshape';                 $(BIN)/kb run view-reshape
	@echo; echo '$$ kb explain "...expected input[100, 32, 32, 3] to have 3 channels..."'; \
	  $(BIN)/kb explain "RuntimeError: Given groups=1, weight of size [24, 3, 3, 3], expected input[100, 32, 32, 3] to have 3 channels, but got 32 channels instead"
	@echo; echo '$$ kb list --kind command';              $(BIN)/kb list --kind command
	@echo; echo '$$ kb lint';                             $(BIN)/kb lint
	@echo; echo '$$ kb check';                            $(BIN)/kb check

# ruff holds the layering (banned imports, print only in render/, a complexity bound)
# and mypy the types (--strict on the subset named in pyproject.toml); both from .[dev].
lint: setup
	$(BIN)/ruff check kb tests bench
	$(BIN)/mypy
	$(BIN)/kb lint --strict

# pytest last: its summary is the closing line CI reads. On every core (pytest-xdist):
# each test has its own cache dir and temporary files, so none waits on another.
test: lint
	$(BIN)/kb check
	$(MAKE) --no-print-directory check-other-cpu check-minimal
	$(BIN)/python -m pytest -n auto

# torch words some errors by the CPU's code path (oneDNN's AVX-512/AMX kernels or the
# reference ones): check every snippet again as a CPU without AVX-512 runs it.
check-other-cpu: setup
	ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 $(BIN)/kb check

# `kb check` as a user who ran `pip install pytorch-kb` sees it: 0 failed, 0 errors;
# snippets whose modules are missing are skipped, each naming what it needs.
check-minimal: setup
	rm -rf $(MINIMAL) .cache/dist
	$(BIN)/python -m pip wheel -q --no-deps --no-build-isolation -w .cache/dist .
	$(PYTHON) -m venv $(MINIMAL)
	$(MINIMAL)/bin/python -m pip install -q --disable-pip-version-check "$(TORCH)"
	$(MINIMAL)/bin/python -m pip install -q --disable-pip-version-check .cache/dist/*.whl
	cd $(MINIMAL) && bin/kb check

# On a machine with an NVIDIA GPU: every snippet, the CUDA ones included, plus the GPU
# tests. Without one it says so, runs the rest, and exits 0 with the GPU snippets skipped.
check-gpu:
	.ci/check-gpu

bench: setup
	$(BIN)/python bench/bench_search.py
	$(BIN)/python bench/bench_run.py
	$(BIN)/python bench/explain_accuracy.py

clean:
	rm -rf $(VENV) .cache build *.egg-info
