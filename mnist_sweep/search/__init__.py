"""Optuna search under the parameter budget: the search Hydra sweeper and its study.

``hparams_search=...`` presets select ``hydra/sweeper=search`` (``sweeper.SearchSweeper``), a
Hydra sweeper built on public APIs only: Hydra's override parser reads the sweep syntax, Optuna's
ask/tell runs the study. Before a job is launched, every proposal is composed into its job config
and checked against ``budget.max_params`` and ``budget.max_macs``; one over budget never trains
(:mod:`.proposals`), and a new proposal takes its place until ``n_trials`` trials have trained.
Beyond that:

* the sampler draws trial ``n`` with seed ``seed + n`` (``sampling.PerTrialSeed``), so a resumed
  study, or a second process on a shared one, never replays earlier proposals;
* every job reports its validation accuracy after each epoch to its trial through the study's
  storage (``job.epoch_monitor``), and stops when the pruner (``hydra/sweeper/pruner``) says so;
* ``seeds`` trains every proposal once per seed; the objective is the mean over the seeds, and a
  seed job reports, after epoch ``e``, the mean over the seeds that have reached epoch ``e``: the
  pruner judges that running mean, and its decision stops every seed of the trial;
* ``n_jobs`` trials run at once (:mod:`.scheduler`);
* ``hydra/sweeper/fidelity=halving`` trains a proposal on rungs of growing length, each a complete
  schedule, promoting the best of each rung to the next (:mod:`.fidelity`); only the top rung
  repeats ``seeds``;
* on an RDB storage, the sweeper records a heartbeat for its running trials; a trial left running
  by a killed process is failed when a sweeper next asks, and re-tried once (:mod:`.client`);
* bad input stops the search with one clear message and exit status 2 before anything trains.

At the end, ``optimization_results.yaml`` gets the best trial (or the Pareto front) and a command
that re-runs it as a plain run on the full training set (:mod:`.outcome`).

Modules, one job each: ``sweeper`` (the facade Hydra loads), ``schema`` (settings in
ConfigStore), ``settings`` (settings checked), ``session`` (one search, step by step), ``space``
(overrides → Optuna distributions), ``sampling`` (sampler, pruner), ``client`` (the study's
ask/tell, heartbeats, stale trials), ``proposals`` (proposals checked against the budget),
``fidelity`` (rungs and promotions), ``scheduler`` (job slots), ``outcome`` (telling the study,
results), ``monitor`` (a job's epochs reported to its trial), ``launchers`` (what each Hydra
launcher allows), ``job`` (what a job of a search needs, without the sweeper), ``enqueue``
(known points put into a study first). The trial attributes they write are named in
``mnist_sweep.trial_attrs``. Importing this package imports none of them.
"""
