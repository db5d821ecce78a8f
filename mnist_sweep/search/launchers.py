"""What the sweeper and its jobs need to know about Hydra's launchers, by their ``_target_``.

Every launcher named here runs its jobs outside the sweeper's process, so worker threads may call
its ``launch`` at once; ``local`` ones run a batch at once on this machine, sharing its cores.
The basic launcher (not named) runs jobs in the sweeper's process, one launch at a time.
"""

from __future__ import annotations

from typing import NamedTuple


class Launcher(NamedTuple):
    local: bool  # its jobs share this machine's cores


LAUNCHERS = {
    "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher": Launcher(local=True),
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher": Launcher(local=True),
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher": Launcher(local=False),
}


def thread_safe(target: str) -> bool:
    """Whether worker threads may call this launcher's ``launch`` at once."""
    return target in LAUNCHERS


def local_parallel(target: str) -> bool:
    """Whether this launcher runs a batch of jobs at once on this machine."""
    launcher = LAUNCHERS.get(target)
    return launcher is not None and launcher.local
