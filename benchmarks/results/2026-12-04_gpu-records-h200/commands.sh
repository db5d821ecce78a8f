# The records searches on one NVIDIA H200 (16 CPU cores), 2026-12-04 18:35-18:44 UTC:
# benchmarks/gpu/records.sh as prepared by benchmarks/gpu/prepare.sh, run from the repository
# root of the GPU machine in one command of at most 530 s. SEARCH_S=200 stopped new trials after
# 200 s; the trials in flight (15-20 epochs, seven at a time per study) ran until 408-439 s, so
# the confirmations that followed were cut off by the command's limit after about a minute and
# none completed: the studies hold no confirmation. Files here: the two studies (folders made
# relative with python -m benchmarks.portable), log.txt and the two searches' logs.
cd .gpu/code && timeout 530 bash -c \
    'SEARCH_S=200 PHASE=search bash ../records.sh; PHASE=confirm bash ../records.sh'
