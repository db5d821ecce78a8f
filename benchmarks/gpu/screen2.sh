#!/usr/bin/env bash
# Second screening (validation split, seeds 200-207): the accurate end of the trade-off.
set -x
export PYTHONUNBUFFERED=1
T0=$(date +%s)
GPU_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-/tmp/out_local}; SMALL=${SMALL:-0}; PY=${PY:-python3}; TLIMIT=${TLIMIT:-230}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
cd "$GPU_DIR/code" || exit 1
export PYTHONPATH=/tmp/site:$PWD
rm -rf /tmp/screen
left() { echo $(( TLIMIT - ($(date +%s) - T0) )); }
summarise() { $PY "$GPU_DIR/summarise.py" --out "$OUT" /tmp/screen /tmp/no-runs || echo "SUMMARISER FAILED"; }
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$GPU_DIR"/whl/*.whl || { echo "WHEEL INSTALL FAILED"; exit 3; }
mkdir -p data/MNIST/raw
for f in "$GPU_DIR"/data/*.gz; do gunzip -c "$f" > "data/MNIST/raw/$(basename "$f" .gz)"; done
if [ "$SMALL" = 1 ]; then
    DEV=(device=cpu); EXTRA=(data.train_subset=2048 data.val_size=1024); SEEDS='range(200,201)'; NJOBS=2
    E78=1; E56=1; E6=1; E7=1
else
    nvidia-smi --query-gpu=name --format=csv
    DEV=(device=cuda); EXTRA=(data.val_size=10000); SEEDS='range(200,208)'; NJOBS=12
    E78=7,8; E56=5,6; E6=6; E7=7
fi
sweep() {
    local name=$1; shift; local t; t=$(left)
    if [ "$t" -lt 25 ]; then echo "SKIPPED sweep $name: only ${t}s left"; return; fi
    echo "=== sweep $name start, ${t}s left"
    timeout -k 10 "$t" $PY -m mnist_sweep -m "${DEV[@]}" "${EXTRA[@]}" hydra/launcher=joblib \
        hydra.launcher.n_jobs=$NJOBS hydra.sweep.dir=/tmp/screen/$name "trainer.seed=$SEEDS" "$@"
    echo "=== sweep $name rc=$? at $(( $(date +%s) - T0 ))s"
    summarise
}
sweep t1_lean model=lean aug=affine,mild trainer.epochs=$E78
sweep t2_seedpool model=seed_pooled,seed_pooled2 aug=mild trainer.epochs=$E56
sweep t3_seedpool_affine model=seed_pooled aug=affine trainer.epochs=$E6
sweep t4_lean_ls model=lean aug=mild trainer.label_smoothing=0.1 trainer.epochs=$E7
cat "$OUT/summary.txt"
echo "=== all done in $(( $(date +%s) - T0 ))s"
