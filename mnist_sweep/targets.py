"""What a config's ``_target_`` may name, and the one place a target is instantiated.

A config may name torch's optimizers and this package (its models, schedules, Hydra callbacks
and sweeper), and any prefix the user lists in ``allowed_targets``; nothing else is imported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mnist_sweep.errors import ConfigError

TARGETS = ["torch.optim.*", "mnist_sweep.*"]


def allowed(target: str, prefixes: Sequence[str] = ()) -> bool:
    """Whether ``target`` is one of ``TARGETS`` or under one of the user's ``prefixes``
    (``pkg.*`` allows every name below ``pkg``)."""
    return any(
        target.startswith(p[:-1]) if p.endswith(".*") else target == p
        for p in [*TARGETS, *prefixes]
    )


def instantiate(
    group: str, node: Mapping, *args: object, allowed: Sequence[str] = (), **kwargs: object
) -> object:
    """Instantiate the ``_target_`` of a config group, which must be one of ``TARGETS`` or of the
    user's ``allowed`` prefixes (config key ``allowed_targets``); a failure names the group and
    why."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    try:
        return hydra_instantiate(node, *args, _execution_whitelist_=[*TARGETS, *allowed], **kwargs)
    except (InstantiationException, ImportError) as exc:
        raise ConfigError(f"{group} could not be built from its config: {exc}") from exc
