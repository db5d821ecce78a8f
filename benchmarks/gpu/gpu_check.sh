#!/usr/bin/env bash
# The CUDA check of the default and best recipes, then the first screening sweep (validation
# accuracy only), in the folder benchmarks/gpu/prepare.sh lays out. It cds into .gpu/code itself:
#   on the GPU machine:  cd .gpu/code && bash ../gpu_check.sh      # OUT: where results go
#   a CPU dry run:       SMALL=1 PY="$PWD/.venv/bin/python" OUT=/tmp/out_local bash .gpu/gpu_check.sh
# SMALL=1: CPU, 2048 train / 1024 val images, 1 epoch, 2 seeds, 2 joblib workers.
# TLIMIT: seconds from start after which no further sweep starts and a running one is stopped.
set -x
export PYTHONUNBUFFERED=1
T0=$(date +%s)
GPU_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-/tmp/out_local}
SMALL=${SMALL:-0}
PY=${PY:-python3}
TLIMIT=${TLIMIT:-440}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
cd "$GPU_DIR/code" || exit 1
export PYTHONPATH=/tmp/site:$PWD
rm -rf /tmp/screen /tmp/runs

left() { echo $(( TLIMIT - ($(date +%s) - T0) )); }
summarise() { $PY "$GPU_DIR/summarise.py" --out "$OUT" /tmp/screen /tmp/runs || echo "SUMMARISER FAILED"; }

# ---- a. setup -------------------------------------------------------------------------------
nvidia-smi || true
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$GPU_DIR"/whl/*.whl || { echo "WHEEL INSTALL FAILED"; exit 3; }
mkdir -p data/MNIST/raw
for f in "$GPU_DIR"/data/*.gz; do
    n=$(basename "$f" .gz)
    gunzip -c "$f" > "data/MNIST/raw/$n"
done
ls -la data/MNIST/raw
$PY -c 'import sys, torch, hydra, omegaconf, joblib; print(sys.version); print("torch", torch.__version__, "cuda", torch.version.cuda, "avail", torch.cuda.is_available()); print("hydra", hydra.__version__, "omegaconf", omegaconf.__version__, "joblib", joblib.__version__); print("gpu", torch.cuda.get_device_name() if torch.cuda.is_available() else None)'

if [ "$SMALL" = 1 ]; then
    DEV=(device=cpu); CHECK_EXTRA=(device.threads=2 data.train_subset=2048 trainer.epochs=1)
    SCREEN_EXTRA=(data.train_subset=2048 data.val_size=1024); SEEDS='range(100,102)'; NJOBS=2
    E3456=1,2; E456=1; E345=1
else
    DEV=(device=cuda); CHECK_EXTRA=()
    SCREEN_EXTRA=(data.val_size=10000); SEEDS='range(100,106)'; NJOBS=10
    E3456=3,4,5,6; E456=4,5,6; E345=3,4,5
fi

# ---- b. CUDA check: one run at a time, full data, test set -------------------------------------
$PY -m mnist_sweep "${DEV[@]}" trainer.seed=0 "${CHECK_EXTRA[@]}" hydra.run.dir=/tmp/runs/default
$PY -m mnist_sweep experiment=best "${DEV[@]}" trainer.seed=0 "${CHECK_EXTRA[@]}" hydra.run.dir=/tmp/runs/best
cp /tmp/runs/default/metrics.json "$OUT/check_default_metrics.json"
cp /tmp/runs/best/metrics.json "$OUT/check_best_metrics.json"
summarise

# ---- c. screening sweeps (validation split), in priority order -------------------------------
MILD=(aug.affine.degrees=8 'aug.affine.translate=[0.08,0.08]' 'aug.affine.scale=[0.92,1.08]' aug.affine.shear=8)
SEEDNET=(model=seed_net 'model.pool_before_bn=[true,false,false]' model.dropout=0.0)
B512=(trainer.batch_size=512 optim.lr=0.4)

sweep() {  # sweep NAME OVERRIDES...
    local name=$1; shift
    local t; t=$(left)
    if [ "$t" -lt 30 ]; then echo "SKIPPED sweep $name: only ${t}s left"; return; fi
    echo "=== sweep $name start $(date +%T), ${t}s left"
    timeout -k 15 "$t" $PY -m mnist_sweep -m "${DEV[@]}" "${SCREEN_EXTRA[@]}" \
        hydra/launcher=joblib hydra.launcher.n_jobs=$NJOBS hydra.sweep.dir=/tmp/screen/$name \
        "trainer.seed=$SEEDS" "$@"
    echo "=== sweep $name rc=$? end $(date +%T), $(( $(date +%s) - T0 ))s since start"
    summarise
}

sweep s1_b256 trainer.epochs=$E3456 trainer.batch_size=256
sweep s1_b512 trainer.epochs=$E3456 "${B512[@]}"
sweep s2_b256 trainer.epochs=$E3456 trainer.batch_size=256 "${MILD[@]}"
sweep s2_b512 trainer.epochs=$E3456 "${B512[@]}" "${MILD[@]}"
sweep s3_ls_b512 trainer.epochs=$E456 "${B512[@]}" trainer.label_smoothing=0.1
sweep s4_b256 trainer.epochs=$E345 trainer.batch_size=256 "${SEEDNET[@]}"
sweep s4_b512 trainer.epochs=$E345 "${B512[@]}" "${SEEDNET[@]}"

cat "$OUT/summary.txt"
echo "=== all done in $(( $(date +%s) - T0 ))s"
