"""The config groups in ``conf/``: where ``conf/`` is, and which options each group has.

Read before Hydra composes anything (a misspelt option gets one line instead of Hydra's
composition error) and by the commands that compose ``conf/`` themselves (``confirm``,
``search.enqueue``); nothing here imports torch or Optuna.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

CONF = Path(__file__).resolve().parents[1] / "conf"  # beside the package, as @hydra.main has it

# the search's config groups in conf/hydra/sweeper/ a command line may choose from, in words
SWEEPER_GROUPS = {"hydra/sweeper/pruner": "a pruner", "hydra/sweeper/fidelity": "a fidelity"}


def options(group: str, conf: Path = CONF) -> list[str]:
    """The options of a config group (``hparams_search``, ``hydra/sweeper/pruner``), sorted."""
    return sorted(p.stem for p in (conf / group).glob("*.yaml"))


def unknown_option(argv: Sequence[str], conf: Path = CONF) -> str | None:
    """Why a ``hydra/sweeper/pruner=NAME`` (or ``fidelity=NAME``) on the command line names no
    config of its group (None if each names one), so a typo gets one line instead of Hydra's
    composition error."""
    for group, what in SWEEPER_GROUPS.items():
        known = options(group, conf)
        for arg in argv:
            key, _, name = arg.partition("=")
            if key.lstrip("+~") == group and name not in known:
                return f"{group}={name} is not {what}; choose one of {', '.join(known)}."
    return None
