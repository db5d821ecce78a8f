#!/usr/bin/env bash
# The records search on a GPU machine, in the folder benchmarks/gpu/prepare.sh lays out: a smoke
# step of about a minute (smoke.py: one-epoch runs alone and many at once, at every batch size)
# that sizes the search to the card; two studies at once (under 5,000 and under 20,000
# parameters, SLOTS trials each, the batch sizes and epochs whose trials end in time), started
# from the best layouts and recipes found so far, for SEARCH_S seconds; then the TOP best trials
# of each confirmed on held-out seeds 5000-5004 (the searches train with seed 0), one process per
# trial and seed. Brings back into $OUT the two studies, every run's record (runs.tar.gz,
# checkpoints left out), logs.tar.gz (every command's log, the smoke's runs), log.txt, smoke.md
# and front.md:
#   on the GPU machine:  cd .gpu/code && bash ../records.sh
#   a CPU dry run:       SMALL=1 PY="$PWD/.venv/bin/python" OUT=/tmp/out_records bash .gpu/records.sh
# SMALL=1: CPU, 2048 train / 1024 val images, 5 epochs, 2 trials, 1 seed, about three minutes.
# PHASE=search or PHASE=confirm runs one half (two calls of a machine kept warm between them).
# DEADLINE (seconds from the start, default 520): confirmations still running then are stopped,
# so the studies and records come back within a command's limit (the studies are copied before
# the confirmations start). SEARCH_S=240 leaves the confirmations about 150 s.
# Back here: tar -xzf runs.tar.gz, then python -m mnist_sweep.report front runs/confirm (the
# studies open anywhere: python -m mnist_sweep.report sqlite:///records_5000.db).
set -x
export PYTHONUNBUFFERED=1
T0=$(date +%s)
GPU_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${OUT:-/tmp/out_records}
SMALL=${SMALL:-0}
PY=${PY:-python3}
PHASE=${PHASE:-all}
DEADLINE=${DEADLINE:-520}
mkdir -p "$OUT/logs"
exec > >(tee -a "$OUT/log.txt") 2>&1
cd "$GPU_DIR/code" || exit 1
export PYTHONPATH=/tmp/site:$GPU_DIR/dist:$PWD   # dist: mnist_sweep's entry point (the sweeper)
[ "$PHASE" = confirm ] || rm -rf runs studies

$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$GPU_DIR"/whl/*.whl || { echo "WHEEL INSTALL FAILED"; exit 3; }
mkdir -p data/MNIST/raw
for f in "$GPU_DIR"/data/*.gz; do gunzip -c "$f" > "data/MNIST/raw/$(basename "$f" .gz)"; done
if [ "$SMALL" = 1 ]; then
    DEV=cpu; TRIALS=2; SEARCH_S=${SEARCH_S:-5}; TOP=1; SEEDS=(5000)
    EXTRA=(data.train_subset=2048 data.val_size=1024); EPOCHS=(5 5)
    CONFIRM_SET=(data.train_subset=2048 trainer.epochs=1)
    SMOKE=(--procs 1 2 --subset 2048 --set data.val_size=1024 --images 2048)
else
    nvidia-smi --query-gpu=name,memory.total --format=csv
    DEV=cuda; TRIALS=1000; SEARCH_S=${SEARCH_S:-240}; TOP=2
    SEEDS=(5000 5001 5002 5003 5004); EXTRA=(); EPOCHS=(5 15); CONFIRM_SET=(); SMOKE=()
fi
$PY -c 'import torch, optuna, hydra; print("torch", torch.__version__, "optuna", optuna.__version__, "hydra", hydra.__version__, "gpu", torch.cuda.get_device_name() if torch.cuda.is_available() else None)'

# ---- the smoke step: the search sized to this machine ---------------------------------------
if [ "$PHASE" != confirm ]; then
    SIZED=$($PY "$GPU_DIR/smoke.py" --device "$DEV" --search-seconds "$SEARCH_S" --out "$OUT" \
        --epochs "${EPOCHS[@]}" "${SMOKE[@]}") || { echo "SMOKE FAILED"; exit 5; }
    eval "$SIZED"   # SLOTS BATCHES MAX_EPOCHS TIMEOUT EXPECTED
    echo "=== smoke done at $(( $(date +%s) - T0 ))s: $SIZED"
fi

# The starting points, at the smallest batch size and the most epochs the smoke allows: the
# records studies' best layouts (blocks 2-3 depthwise-separable: block 1 at 8 channels and blocks
# 2-3 at 20, 4,998 parameters; at 4 and 20, 3,946; at 4 and 16, 2,918; under 20,000 also at 8 and
# 32, 9,090) with their recipe, and the published 9,594-parameter layout and recipe.
FIT="trainer.batch_size=${BATCHES%%,*} trainer.epochs=$MAX_EPOCHS"
PAD="search.blocks=3 search.transition=false search.pad_last=1 search.head=gap search.dropout=0.01"
AUG="search.degrees=8 search.shift=0.08 search.scale=0.08 search.shear=8 search.brightness=0.0 search.contrast=0.0"
REC="optim=sgd optim.lr=0.3 optim.weight_decay=0.0005 sched=onecycle trainer.label_smoothing=0.1 trainer.ema=0 $AUG $FIT"
SEP="search.c1=3 search.c2=3 search.c3=3 search.separable=true"
L4998="$SEP search.w1=8 search.w2=20 search.w3=20"
L3946="$SEP search.w1=4 search.w2=20 search.w3=20"
L2918="$SEP search.w1=4 search.w2=16 search.w3=16"
L9090="$SEP search.w1=8 search.w2=32 search.w3=32"
L9594="search.blocks=3 search.c1=1 search.c2=1 search.c3=1 search.w1=8 search.w2=16 search.w3=16 search.transition=true search.pad_last=0 search.head=flatten search.dropout=0.0 search.separable=false optim=adagrad optim.lr=0.75 sched=onecycle trainer.ema=0 search.degrees=15 search.shift=0.0714 search.scale=0.0 search.shear=0 search.brightness=0.0 search.contrast=0.0 $FIT"
mkdir -p studies
for B in 5000 20000; do
    [ "$PHASE" = confirm ] && break
    POINTS=("$L4998 $PAD $REC" "$L3946 $PAD $REC" "$L2918 $PAD $REC")
    [ "$B" = 20000 ] && POINTS+=("$L9090 $PAD $REC" "$L9594")
    $PY -m mnist_sweep.search.enqueue records --storage "sqlite:///studies/records_$B.db" \
        --study "records_$B" "${POINTS[@]}" || { echo "ENQUEUE FAILED"; exit 4; }
done

# ---- the two searches at once ------------------------------------------------------------------
PIDS=(); CONFIRMS=()
for B in 5000 20000; do
    [ "$PHASE" = confirm ] && break
    $PY -m mnist_sweep -m hparams_search=records "budget.max_params=$B" "device=$DEV" "${EXTRA[@]}" \
        device.threads=1 hydra/launcher=joblib "hydra.launcher.n_jobs=$SLOTS" \
        "hydra.sweeper.n_jobs=$SLOTS" "hydra.sweeper.n_trials=$TRIALS" \
        "trainer.batch_size=choice($BATCHES)" "trainer.epochs=range(${EPOCHS[0]},$((MAX_EPOCHS + 1)))" \
        "hydra.sweeper.timeout=$TIMEOUT" "hydra.sweeper.study_name=records_$B" \
        hydra.sweeper.sampler.n_startup_trials=20 "hydra.sweep.dir=runs/search_$B" \
        > "$OUT/logs/search_$B.log" 2>&1 &
    PIDS+=($!)
done
[ ${#PIDS[@]} = 0 ] || wait "${PIDS[@]}"   # a bare wait would also wait for the log's tee
echo "=== searches done at $(( $(date +%s) - T0 ))s"
tail -n 3 "$OUT"/logs/search_*.log
cp studies/records_*.db "$OUT/"

# ---- the best trials of each, confirmed on held-out seeds (one process per trial) --------------
BEST='import sys, optuna
s = optuna.load_study(study_name=sys.argv[1], storage=sys.argv[2])
done = [t for t in s.trials if t.state == optuna.trial.TrialState.COMPLETE]
print(*[t.number for t in sorted(done, key=lambda t: -t.value)[: int(sys.argv[3])]])'
for B in 5000 20000; do
    [ "$PHASE" = search ] && break
    for N in $($PY -c "$BEST" "records_$B" "sqlite:///studies/records_$B.db" "$TOP"); do
        for SEED in "${SEEDS[@]}"; do   # every seed at once: one process each
            LEFT=$(( DEADLINE - ($(date +%s) - T0) )); [ "$LEFT" -gt 0 ] || LEFT=1   # 0: no limit
            timeout -s INT "$LEFT" \
            $PY -m mnist_sweep.confirm "sqlite:///studies/records_$B.db" --trials "$N" \
                --seeds "$SEED" --set "device=$DEV" device.threads=1 "${CONFIRM_SET[@]}" \
                --out runs/confirm > "$OUT/logs/confirm_${B}_${N}_$SEED.log" 2>&1 &
            CONFIRMS+=($!)
            sleep 1   # one sweep folder per process (named to the microsecond)
        done
    done
done
[ ${#CONFIRMS[@]} = 0 ] || wait "${CONFIRMS[@]}"
echo "=== confirmations done at $(( $(date +%s) - T0 ))s"
cat "$OUT"/logs/confirm_*.log | grep -v "^INFO"

# ---- bring back -------------------------------------------------------------------------------
cp studies/records_*.db "$OUT/"
tar --exclude='*.pt' -czf "$OUT/runs.tar.gz" runs
if [ -d runs/confirm ]; then
    $PY -m mnist_sweep.report front runs/confirm --min-seeds "${#SEEDS[@]}" --out runs/front \
        && cp runs/front/front.md "$OUT/" || echo "FRONT FAILED"
fi
# at most eight files come back from the GPU machine: the logs and the smoke's runs in one
mv "$OUT"/smoke.csv "$OUT/logs/" 2>/dev/null
tar -czf "$OUT/logs.tar.gz" -C "$OUT" logs && rm -rf "$OUT/logs"
[ "$SMALL" = 1 ] && rm -rf data runs studies   # .gpu travels to the GPU machine: keep it small
echo "=== all done in $(( $(date +%s) - T0 ))s"
