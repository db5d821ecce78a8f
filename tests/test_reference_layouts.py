"""The published reference layouts compose from config and count exactly, before and after
building."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir

from mnist_sweep import models
from mnist_sweep.config import validate
from tests.conftest import CONF

REFERENCES = {"ref3762": 3_762, "ref9594": 9_594}


@pytest.mark.parametrize(("name", "params"), REFERENCES.items())
def test_reference_layout_composes_and_counts_exactly(name, params):
    with initialize_config_dir(config_dir=str(CONF)):
        plain = validate(compose("config", overrides=[f"model={name}"]))
    table = models.architecture(plain["model"])
    assert sum(row.params for row in table) == params
    model = models.ConvNet(**plain["model"])
    assert models.trainable_params(model) == params
    assert model.eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_ref3762_is_three_convs_per_block_at_widths_4_8_8_with_a_pooled_8_to_10_head():
    with initialize_config_dir(config_dir=str(CONF)):
        plain = validate(compose("config", overrides=["model=ref3762"]))
    rows = models.architecture(plain["model"])
    convs = [r for r in rows if r.name.startswith("conv")]
    assert [r.out_shape for r in convs] == [(4, 28, 28)] * 3 + [(8, 14, 14)] * 3 + [(8, 7, 7)] * 3
    assert [r.name for r in rows[-2:]] == ["global avg pool", "linear 8→10"]
    assert rows[-1].params == 8 * 10 + 10
    assert sum(r.name.startswith("dropout2d 0.01") for r in rows) == 3


def test_ref9594_pads_only_its_3x3_convs_and_flattens_a_5x5_map():
    with initialize_config_dir(config_dir=str(CONF)):
        plain = validate(compose("config", overrides=["model=ref9594"]))
    rows = models.architecture(plain["model"])
    convs = [r.name.split()[1] for r in rows if r.name.startswith("conv")]
    assert convs == ["3x3", "1x1"] * 3
    assert rows[-1].name == "linear 400→10"
