# A records study under 20,000 parameters seeded with two wider layouts of the records study's
# best family under 5,000 (benchmarks/results/2026-12-04_records-5000: the published layout with
# the 3x3 convs of blocks 2 and 3 depthwise-separable, trained with its best recipe), 2026-12-04,
# on a 2-core Intel Xeon under KVM (family 6 model 167, AVX-512 with avx512_bf16 and AMX; bf16 by
# device.precision=auto), one thread a trial, two at a time. Run from the repository root.
R=benchmarks/results/2026-12-04_records-20000
S=sqlite:///$R/records.db
PAD="search.blocks=3 search.transition=false search.pad_last=1 search.pool_early=false search.bn_after_relu=false search.head=gap search.dropout=0.01"
AUG="search.degrees=8 search.shift=0.08 search.scale=0.08 search.shear=8 search.brightness=0.0 search.contrast=0.0"
E3="optim=sgd optim.lr=0.3 optim.weight_decay=0.0005 sched=onecycle trainer.batch_size=128 trainer.label_smoothing=0.1 trainer.epochs=15 $AUG"
SEP="search.c1=3 search.c2=3 search.c3=3 search.separable=true"
L9090="$SEP search.w1=8 search.w2=32 search.w3=32"     # 9,090
L10766="$SEP search.w1=12 search.w2=32 search.w3=32"   # 10,766
SEARCH=(hparams_search=records budget.max_params=20000 device.threads=1 hydra/launcher=joblib
    hydra.launcher.n_jobs=2 hydra.sweeper.n_jobs=2 hydra.sweeper.storage=$S
    'trainer.batch_size=choice(64,128,256,512)' 'trainer.epochs=range(10,16)' "hydra.sweep.dir=$R/runs/search/seeded")

python -m mnist_sweep.search.enqueue records --storage $S "$L9090 $PAD $E3 trainer.ema=0" \
    "$L10766 $PAD $E3 trainer.ema=0"
python -m mnist_sweep -m "${SEARCH[@]}" hydra.sweeper.n_trials=2     # trials 0-1, 20:07-

# the better trial by validation accuracy (0: 9,090 parameters, 99.44 %; trial 1: 99.39 %) on
# held-out seeds 7600-7604, which no run had used, two processes
python -m mnist_sweep.confirm $S --study records --trials 0 --seeds 7600 7601 7602 \
    --set device.threads=1 --out $R/runs/confirm &
python -m mnist_sweep.confirm $S --study records --trials 0 --seeds 7603 7604 \
    --set device.threads=1 --out $R/runs/confirm &
wait

# trial 0's layout and recipe for 20 epochs (trial 2), one at a time beside the confirmation
python -m mnist_sweep.search.enqueue records --storage $S \
    "$L9090 $PAD ${E3/trainer.epochs=15/trainer.epochs=20} trainer.ema=0"
python -m mnist_sweep -m hparams_search=records budget.max_params=20000 device.threads=1 \
    hydra.sweeper.storage=$S 'trainer.batch_size=choice(64,128,256,512)' \
    'trainer.epochs=range(10,21)' "hydra.sweep.dir=$R/runs/search/longer" hydra.sweeper.n_trials=1

# two layouts of the same family under 8,000 parameters (trials 3-4: blocks 2-3 at 24 and at 28
# channels, 6,202 and 7,566 parameters), two at a time
python -m mnist_sweep.search.enqueue records --storage $S \
    "$SEP search.w1=8 search.w2=24 search.w3=24 $PAD $E3 trainer.ema=0" \
    "$SEP search.w1=8 search.w2=28 search.w3=28 $PAD $E3 trainer.ema=0"
python -m mnist_sweep -m "${SEARCH[@]/search\/seeded/search\/under8000}" hydra.sweeper.n_trials=2

# the better of trials 3-4 by validation accuracy (3: 6,202 parameters, 99.30 %; 4: 99.28 %) on
# held-out seeds 7700-7704, two processes
python -m mnist_sweep.confirm $S --study records --trials 3 --seeds 7700 7701 7702 \
    --set device.threads=1 --out $R/runs/confirm &
python -m mnist_sweep.confirm $S --study records --trials 3 --seeds 7703 7704 \
    --set device.threads=1 --out $R/runs/confirm &
wait

# the study's folders relative to the repository root; the front
python -m benchmarks.portable $R/records.db
python -m mnist_sweep.report front $R/runs/confirm --out $R
