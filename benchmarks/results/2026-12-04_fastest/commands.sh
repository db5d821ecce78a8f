# The fastest study and the choice of the default, 2026-12-04, on a 2-core Intel Xeon under KVM
# (family 6 model 167, AVX-512 with avx512_bf16 and AMX; torch.backends.cpu.get_cpu_capability()
# AVX512; bf16 by device.precision=auto). Run from the repository root.
R=benchmarks/results/2026-12-04_fastest
S=sqlite:///$R/fastest.db
B="search.w1=8 search.w2=16 search.w3=20 search.w4=16 search.k1=3 search.k2=3 search.pool_early1=true search.pool_early2=false search.degrees=8 search.shift=0.08 search.scale=0.08 sched=onecycle trainer.label_smoothing=0.1"

# 1. The study (validation only, training seed 0): six starting points (trials 0-5: the 7-epoch
#    recipe the search starts from, at 7, 5 and 4 epochs, at batch 512, and with 16-wide 7x7
#    convs), then 74 proposals of the sampler in three runs of the command (16:16-16:39 UTC),
#    one thread per trial, two trials at a time.
python -m mnist_sweep.search.enqueue fastest --storage $S \
    "$B optim.lr=0.3 trainer.batch_size=256 trainer.epochs=7" \
    "$B optim.lr=0.3 trainer.batch_size=256 trainer.epochs=5" \
    "$B optim.lr=0.4 trainer.batch_size=512 trainer.epochs=6" \
    "$B optim.lr=0.3 trainer.batch_size=256 trainer.epochs=4" \
    "${B/search.w3=20/search.w3=16} optim.lr=0.3 trainer.batch_size=256 trainer.epochs=6" \
    "${B/search.w3=20/search.w3=16} optim.lr=0.4 trainer.batch_size=512 trainer.epochs=5"
for N in 40 20 20; do
    python -m mnist_sweep -m hparams_search=fastest hydra/launcher=joblib hydra.sweeper.n_jobs=2 \
        device.threads=1 hydra.sweeper.n_trials=$N hydra.sweeper.storage=$S
done

# 2. The gate (chooses; its figures are not reported as the default's): the front's two points
#    above 99.3 % validation accuracy (trials 53 and 48) and trial 1, cheapest first, on all
#    60,000 training images with seeds 7000-7009, at the precision auto picks and at fp32, one
#    process each, one thread each.
for P in auto fp32; do
    python -m mnist_sweep.confirm $S --study fastest --trials 53 1 48 \
        --seeds 7000 7001 7002 7003 7004 7005 7006 7007 7008 7009 \
        --set device.threads=1 device.precision=$P trainer.test_every=1 --out $R/runs/gate-$P &
done; wait

# Trial 2 (batch 512, 6 epochs) at auto, stopped (SIGTERM) after six seeds; its runs are in
# runs/gate2-auto, not in the study.
python -m mnist_sweep.confirm $S --study fastest --trials 2 \
    --seeds 7000 7001 7002 7003 7004 7005 7006 7007 7008 7009 \
    --set device.threads=1 device.precision=auto trainer.test_every=1 --out $R/runs/gate2-auto

# 3. The default (trial 0) on the gate's seeds, for comparison (17:45-17:58).
for P in auto fp32; do
    python -m mnist_sweep.confirm $S --study fastest --trials 0 \
        --seeds 7000 7001 7002 7003 7004 7005 7006 7007 7008 7009 \
        --set device.threads=1 device.precision=$P trainer.test_every=1 --out $R/runs/gate0-$P &
done; wait

# 4. The study's folders relative to the repository root; the tables of docs/benchmarks.md.
python -m benchmarks.portable $R/fastest.db
python -m benchmarks.cost_gate $S --baseline 0 --docs
