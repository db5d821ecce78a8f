#!/usr/bin/env bash
# A single-node Slurm cluster on this machine (Debian's slurm-wlm and munge: slurmctld and slurmd
# on localhost), a 4-trial width search through hydra/launcher=slurm (submitit) into a shared
# study, checks of its trials and leaderboard, then Slurm is torn down. Needs root (the daemons
# and munge); `make cluster-test` runs it. Everything lives in one temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PY:-$REPO/.venv/bin/python}
if [ "$(id -u)" -ne 0 ]; then echo "cluster-test: needs root (it starts munged, slurmctld, slurmd)"; exit 2; fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge
fi

WORK=$(mktemp -d /tmp/mnist-slurm-XXXXXX)
chmod 755 "$WORK"
export SLURM_CONF=$WORK/slurm.conf
NODE=$(hostname -s)
CPUS=$(nproc)
MEM=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))

cleanup() {
  scancel --user=root >/dev/null 2>&1 || true
  for pidfile in "$WORK"/slurmctld.pid "$WORK"/slurmd.pid "$WORK"/munged.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  sleep 1
  rm -rf "$WORK"
}
trap cleanup EXIT

# munge: a fresh key and daemon of our own, its socket in the work folder
mkdir -p "$WORK/munge"
dd if=/dev/urandom bs=1 count=1024 of="$WORK/munge/munge.key" status=none
chown -R munge:munge "$WORK/munge"; chmod 711 "$WORK/munge"; chmod 400 "$WORK/munge/munge.key"
runuser -u munge -- munged --key-file="$WORK/munge/munge.key" --socket="$WORK/munge/munge.socket" \
  --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/munge/munged.log" --seed-file="$WORK/munge/seed"
cp "$WORK/munge/munged.pid" "$WORK/munged.pid"

mkdir -p "$WORK/state" "$WORK/spool"
cat > "$SLURM_CONF" <<CONF
ClusterName=mnistsweep
SlurmctldHost=$NODE
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$WORK/munge/munge.socket
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
SlurmctldPort=$(( 20000 + RANDOM % 20000 ))
SlurmdPort=$(( 40000 + RANDOM % 20000 ))
NodeName=$NODE CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=local Nodes=$NODE Default=YES MaxTime=60 State=UP
CONF
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 60); do
  sinfo -h -o %t 2>/dev/null | grep -q idle && break
  sleep 1
done
sinfo

# the search: 4 trials, 2 per job array, one core each, a shared SQLite study in the work folder
cd "$WORK"
MNIST_SWEEP_DATA=${MNIST_SWEEP_DATA:-$REPO/data} "$PY" -m mnist_sweep -m hparams_search=widths \
  hydra/launcher=slurm hydra.launcher.partition=local hydra.launcher.cpus_per_task=1 \
  hydra.launcher.mem_gb=2 hydra.launcher.timeout_min=10 hydra.sweeper.n_trials=4 \
  hydra.sweeper.n_jobs=2 data.train_subset=1024 data.val_size=1000 trainer.epochs=1 \
  trainer.batch_size=128 "hydra.sweeper.storage=sqlite:///$WORK/studies/widths.db"

"$PY" - "$WORK" <<'CHECK'
import sys
from pathlib import Path

import optuna

work = Path(sys.argv[1])
study = optuna.load_study(study_name="widths", storage=f"sqlite:///{work}/studies/widths.db")
done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
assert len(done) == 4, [t.state for t in study.trials]
boards = list(work.glob("multirun/*/*/leaderboard.csv"))
assert boards and sum(1 for _ in boards[0].open()) == 5, boards  # header + 4 trials
print(f"cluster-test: 4 trials completed through Slurm; best val_acc {study.best_value:.4f}")
print(f"cluster-test: leaderboard {boards[0]}")
CHECK
