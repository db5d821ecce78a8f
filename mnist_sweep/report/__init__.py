"""Reports built only from the files runs leave on disk, never from the training code.

``collect`` finds and reads runs into a pandas table, ``charts`` draws them with matplotlib and
``render`` fills the Jinja2 templates: ``report.html`` per run, ``leaderboard.html`` and
``leaderboard.csv`` per sweep (or any folder of runs). ``python -m mnist_sweep.report PATH``
rebuilds them at any time.
"""

from mnist_sweep.report.collect import NoRunsError
from mnist_sweep.report.render import (
    LEADERBOARD,
    LEADERBOARD_CSV,
    RUN_REPORT,
    write_leaderboard,
    write_run_report,
)

__all__ = [
    "LEADERBOARD",
    "LEADERBOARD_CSV",
    "RUN_REPORT",
    "NoRunsError",
    "write_leaderboard",
    "write_run_report",
]
