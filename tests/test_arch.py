"""hparams_search=arch: every point of the architecture space composes, is counted before it
trains (or refused for shapes that do not work), and trains."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from mnist_sweep import models
from mnist_sweep.config import validate
from mnist_sweep.errors import ConfigError
from mnist_sweep.run import execute
from mnist_sweep.search.space import lowest
from tests.conftest import SLICE, as_overrides, compose_search, random_points, search_space


def compose_arch(*overrides: str):
    return compose_search("arch", *overrides)


def sampled_points(n: int) -> list[dict[str, object]]:
    return random_points("arch", n)


def test_every_sampled_point_composes_and_is_counted_or_refused_before_training():
    counted = 0
    for point in sampled_points(40):
        plain = validate(compose_arch(*as_overrides(point)))
        assert len(plain["model"]["blocks"]) == point["search.blocks"]
        assert len(plain["model"]["widths"]) == sum(plain["model"]["blocks"])
        try:
            params = models.count_params(plain["model"])
        except ConfigError as exc:  # e.g. 5x5 convs shrinking the unpadded block below 1x1
            assert "feature map" in str(exc) or "max-pools" in str(exc), exc
            continue
        assert params == models.trainable_params(models.ConvNet(**plain["model"]))
        counted += 1
    assert counted >= 25  # most of the space is buildable


def test_the_smallest_point_fits_a_5000_parameter_budget():
    smallest = validate(compose_arch(*as_overrides(lowest(search_space("arch")))))
    assert models.count_params(smallest["model"]) < 5000


def fits(point: dict[str, object]) -> bool:
    """The point builds and is within the default parameter budget."""
    try:
        return models.count_params(validate(compose_arch(*as_overrides(point)))["model"]) <= 20_000
    except ConfigError:
        return False


@pytest.mark.parametrize("head", ["gap", "conv1x1", "flatten"])
def test_sampled_architectures_train_on_a_slice(mnist_root, tmp_path, head):
    point = next(p for p in sampled_points(60) if p["search.head"] == head and fits(p))
    cfg = compose_arch(*as_overrides(point), *SLICE, f"data.root={mnist_root}")
    record = execute(cfg, Path(tmp_path) / "run")
    assert record.status == "completed" and 0 <= record.val_acc <= 1
    assert record.params == models.count_params(OmegaConf.to_container(cfg.model, resolve=True))
