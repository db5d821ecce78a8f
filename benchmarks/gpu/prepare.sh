#!/usr/bin/env bash
# Lay out .gpu/ (ignored by git) for a run on a GPU machine that has torch but no Hydra and no
# network: a snapshot of HEAD, the screening-only model/aug options, Hydra's wheels, gzipped
# MNIST. Then, on that machine, from the repo root:
#   cd .gpu/code && bash ../gpu_check.sh    # CUDA check of default and best + first screen
#   cd .gpu/code && bash ../screen2.sh      # second screen
#   cd .gpu/code && bash ../records.sh      # the records searches and their confirmations
# The screens write log.txt, screen.csv and summary.txt into $OUT (validation accuracy only).
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.gpu/' .git/info/exclude || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu/code .gpu/whl .gpu/data
git archive HEAD | tar -x -C .gpu/code
cp benchmarks/gpu/conf/mild.yaml .gpu/code/conf/aug/
cp benchmarks/gpu/conf/seed_pooled*.yaml .gpu/code/conf/model/
cp benchmarks/gpu/{gpu_check.sh,screen2.sh,records.sh,smoke.py,summarise.py} .gpu/
# mnist_sweep's metadata, for the entry point through which Hydra finds the search sweeper
mkdir -p .gpu/dist && cp -r .venv/lib/python3*/site-packages/mnist_sweep-*.dist-info .gpu/dist/
"${PY:-.venv/bin/python}" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux2014_x86_64 -d .gpu/whl \
    hydra-core==1.4.0rc3 omegaconf==2.4.1rc1 hydra-joblib-launcher==1.4.0rc3 joblib==1.6.0 \
    hydra-optuna-sweeper==1.4.0rc3 optuna==5.0.0 alembic==1.20.1 mako==1.4.3 colorlog==6.12.0
# SQLAlchemy's pure-Python wheel: it installs on any Python (the CPU dry run's too)
"${PY:-.venv/bin/python}" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation py --platform any -d .gpu/whl sqlalchemy==2.1.9
for f in data/MNIST/raw/*-ubyte; do gzip -c "$f" > ".gpu/data/$(basename "$f").gz"; done
du -sh .gpu
