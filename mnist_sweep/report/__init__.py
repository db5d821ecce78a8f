"""Reports built only from the files runs leave on disk, never from the training code.

``collect`` finds and reads runs into a pandas table and ``table`` shapes it for the leaderboard;
``charts`` draws with matplotlib and ``pages`` fills the Jinja2 templates: ``run_page`` writes
``report.html`` per run, ``leaderboard`` writes ``leaderboard.html`` and ``leaderboard.csv`` per
sweep (or any folder of runs), with the study view of an Optuna sweep (``study``); ``live`` keeps
a running sweep's page current; ``front`` writes the confirmed size–accuracy front of confirmation
runs. ``python -m mnist_sweep.report PATH`` rebuilds them at any time, ``python -m
mnist_sweep.report URL`` shows an Optuna storage's study, ``python -m mnist_sweep.report front
RUN_DIR …`` writes ``front.html`` and ``front.md``.
"""

from mnist_sweep.report.collect import NoRunsError
from mnist_sweep.report.leaderboard import write_leaderboard, write_study_page
from mnist_sweep.report.run_page import run_ended, write_run_report
from mnist_sweep.report.study import StudyError

__all__ = [
    "NoRunsError",
    "StudyError",
    "run_ended",
    "write_leaderboard",
    "write_run_report",
    "write_study_page",
]
