# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check -q
# llama.cpp built for AVX2, not -march=native: its AMX kernels crash (SIGSEGV in
# ggml_backend_amx_mul_mat) on CPUs that advertise AMX, such as this project's VMs.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
FUZZ_EXAMPLES ?= 1000

.PHONY: run test check fuzz install install-test chromium benchmark

run: install
	$(BIN)/papers ui --with-sample

test: install-test chromium
	$(BIN)/pytest

# The fast tier: lint, then the tests that need no server, browser, subprocess or real model
# (marked `slow` otherwise); under 2 minutes on 2 cores.
check: install-test
	$(BIN)/ruff check .
	$(BIN)/pytest -m "not slow" -q

# Property-based tests with many more cases than `make test` draws, new ones each run.
fuzz: install-test
	PAPERS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/test_service_schema.py -q

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	# llama-cpp-python compiles from source (about 11 minutes on 2 cores); pip caches the wheel.
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -e '.[test]'
	touch $@

# The browser test drives Debian's Chromium; Playwright never downloads a browser here.
chromium:
	@test -x /usr/bin/chromium || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

benchmark: install
	$(BIN)/python benchmarks/retrieval.py
