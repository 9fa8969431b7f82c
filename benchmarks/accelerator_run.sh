#!/usr/bin/env bash
# One prepared pass on a lent GPU machine (no network there; jax/equinox/diffrax/optax/orbax come from its
# image, jaxrep from this checkout on PYTHONPATH): device info, the notebooks at default sizes, the test
# suite on the GPU, and the training-fusion benchmark. Every step has its own time limit so one slow step
# cannot eat the lease; logs go to $OUT (or ./accelerator_out).
#
#     bash benchmarks/accelerator_run.sh [notebooks|tests|bench|all]
set -u
OUT=${OUT:-accelerator_out}
mkdir -p "$OUT"
PY=${PY:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # several test workers share one GPU
what=${1:-all}
deadline=$(( $(date +%s) + ${BUDGET_S:-560} ))  # the whole pass stays inside one device call
limit() { local left=$(( deadline - $(date +%s) )); (( left < $1 )) && echo $(( left > 1 ? left : 1 )) || echo "$1"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
$PY -c "import jax, equinox, diffrax, optax, orbax.checkpoint, jaxrep; print('jax', jax.__version__, 'equinox', equinox.__version__, 'diffrax', diffrax.__version__, 'optax', optax.__version__, jax.devices())" | tee -a "$OUT/device.txt"

if [[ $what == all || $what == notebooks ]]; then
  for nb in 00:80 01:150 02:90 03:150 04:120; do
    t=${nb#*:}; nb=${nb%:*}
    timeout "$(limit "$t")" $PY benchmarks/notebook_times.py "$nb" > "$OUT/notebook_$nb.log" 2>&1
    echo "notebook $nb rc=$? $(grep '"notebook"' "$OUT/notebook_$nb.log")"
  done
fi
if [[ $what == all || $what == tests ]]; then
  start=$(date +%s)
  timeout "$(limit 240)" $PY -m pytest -n 8 -q -p no:cacheprovider --ignore tests/test_notebooks.py -rf \
    --durations=10 ${TESTS:-} > "$OUT/tests.log" 2>&1
  echo "tests rc=$? in $(( $(date +%s) - start )) s: $(tail -1 "$OUT/tests.log")"
  grep -E '^(FAILED|ERROR)' "$OUT/tests.log" | head -30
fi
if [[ $what == all || $what == bench ]]; then
  timeout "$(limit 90)" $PY benchmarks/train_fusion.py --repeats 3 > "$OUT/train_fusion.log" 2>&1
  echo "train_fusion rc=$?"; tail -6 "$OUT/train_fusion.log"
fi
