"""Optuna search under the parameter budget: the ``budget`` Hydra sweeper and its study.

``hparams_search=...`` presets select ``hydra/sweeper=budget`` (:class:`BudgetSweeper`), a Hydra
sweeper built on public APIs only: Hydra's override parser reads the sweep syntax, Optuna's
ask/tell runs the study. Before a job is launched, every proposal is composed into its job config
and checked against ``budget.max_params``; one over budget never trains (:mod:`.budget`), and a
new proposal takes its place until ``n_trials`` trials have trained. Beyond that:

* the sampler draws trial ``n`` with seed ``seed + n`` (:class:`PerTrialSeed`), so a resumed study,
  or a second process on a shared one, never replays earlier proposals;
* every job reports its validation accuracy after each epoch to its trial through the study's
  storage (:func:`epoch_monitor`), and stops when the pruner (``hydra/sweeper/pruner``) says so;
* ``seeds`` trains every proposal once per seed; the objective is the mean over the seeds, and a
  seed job reports, after epoch ``e``, the mean over the seeds that have reached epoch ``e``: the
  pruner judges that running mean, and its decision stops every seed of the trial;
* ``n_jobs`` trials run at once (:mod:`.scheduler`);
* ``hydra/sweeper/fidelity=halving`` trains a proposal on rungs of growing length, each a complete
  schedule, promoting the best of each rung to the next (:mod:`.fidelity`); only the top rung
  repeats ``seeds``;
* on an RDB storage, the sweeper records a heartbeat for its running trials; a trial left running
  by a killed process is failed when a sweeper next asks, and re-tried once (:mod:`.monitor`);
* bad input stops the search with one clear message and exit status 2 before anything trains.

At the end, ``optimization_results.yaml`` gets the best trial (or the Pareto front) and a command
that re-runs it as a plain run on the full training set (:mod:`.outcome`).

Modules, one job each: ``schema`` (settings in ConfigStore), ``space`` (overrides → Optuna
distributions), ``sampling`` (sampler, pruner), ``budget`` (proposals checked against the
budget), ``fidelity`` (rungs and promotions), ``scheduler`` (job slots), ``monitor`` (epochs,
heartbeat, stale trials), ``outcome`` (telling the study, results), ``launchers`` (what each Hydra
launcher allows), ``sweeper`` (the facade), ``enqueue`` (known points put into a study first).
"""

from mnist_sweep.search.budget import BUDGET_CONSTRAINT
from mnist_sweep.search.fidelity import PROMOTED_FROM, RUNG, Halving
from mnist_sweep.search.launchers import local_parallel, thread_safe
from mnist_sweep.search.monitor import PRUNED_AT, SEED_CURVE, EpochMonitor, epoch_monitor
from mnist_sweep.search.sampling import PerTrialSeed, make_pruner, unknown_option
from mnist_sweep.search.schema import BudgetSweeperConf
from mnist_sweep.search.space import distribution, lowest, parse_space
from mnist_sweep.search.sweeper import BudgetSweeper

__all__ = [
    "BUDGET_CONSTRAINT",
    "PROMOTED_FROM",
    "PRUNED_AT",
    "RUNG",
    "SEED_CURVE",
    "BudgetSweeper",
    "BudgetSweeperConf",
    "EpochMonitor",
    "Halving",
    "PerTrialSeed",
    "distribution",
    "epoch_monitor",
    "local_parallel",
    "lowest",
    "make_pruner",
    "parse_space",
    "thread_safe",
    "unknown_option",
]
