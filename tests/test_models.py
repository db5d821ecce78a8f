"""The convnet family: exact parameter counts from config alone, shapes, validation, reloading."""

from __future__ import annotations

import random

import pytest
import torch
import yaml

from mnist_sweep import architecture, models
from mnist_sweep.errors import ConfigError
from tests.conftest import CONF

PRESETS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))


def preset(name: str) -> dict:
    return yaml.safe_load((CONF / "model" / f"{name}.yaml").read_text())


def test_seed_net_has_exactly_13226_trainable_parameters():
    cfg = preset("seed_net")
    assert models.count_params(cfg) == 13_226
    assert models.trainable_params(models.ConvNet(**cfg)) == 13_226


@pytest.mark.parametrize("name", PRESETS)
def test_count_from_config_equals_built_model_for_every_preset(name):
    cfg = preset(name)
    model = models.ConvNet(**cfg)
    assert models.count_params(cfg) == models.trainable_params(model)
    out = model.eval()(torch.zeros(3, 1, 28, 28))
    assert out.shape == (3, 10)
    assert torch.allclose(out.exp().sum(1), torch.ones(3), atol=1e-5)


def random_family_members(n: int) -> list[dict]:
    rng = random.Random(0)
    members = []
    for _ in range(n):
        blocks = [rng.randint(1, 3) for _ in range(rng.randint(1, 3))]
        pool = [rng.random() < 0.6 for _ in blocks]
        members.append(
            {
                "widths": [rng.randint(1, 24) for _ in range(sum(blocks))],
                "blocks": blocks,
                "kernels": rng.choice([1, 3]),
                "padding": 1,
                "pool": pool,
                "pool_before_bn": [p and rng.random() < 0.5 for p in pool],
                "dropout": rng.choice([0.0, 0.1]),
                "head": rng.choice(["flatten", "gap"]),
                "conv_bias": rng.random() < 0.5,
                "separable": [rng.random() < 0.3 for _ in range(sum(blocks))],
            }
        )
    return members


def test_count_from_config_equals_built_model_across_random_family_members():
    for cfg in random_family_members(40):
        assert models.count_params(cfg) == models.trainable_params(models.ConvNet(**cfg)), cfg


def test_architecture_table_lists_the_layers_in_the_order_the_model_runs_them():
    kinds = {"Conv2d": "conv", "BatchNorm2d": "batchnorm", "MaxPool2d": "maxpool"}
    for cfg in random_family_members(40):
        rows = [  # a separable conv row builds two convs: depthwise, pointwise
            r.name.split()[0].rstrip("0123456789")
            for r in architecture.layers(architecture.parse(cfg))
            for _ in range(2 if "separable" in r.name else 1)
        ]
        built = [
            kinds[type(m).__name__]
            for m in models.ConvNet(**cfg).features
            if type(m).__name__ in kinds
        ]
        assert [r for r in rows if r in kinds.values()] == built, cfg


def test_pool_before_bn_pools_between_the_conv_and_its_batchnorm_at_no_parameter_cost():
    early = {**preset("lean"), "pool_before_bn": [True, False, False]}
    late = {**preset("lean"), "pool_before_bn": False}
    names = [type(m).__name__ for m in models.ConvNet(**early).features[:4]]
    assert names == ["Conv2d", "MaxPool2d", "BatchNorm2d", "ReLU"]
    rows = {r.name: r.out_shape for r in architecture.layers(architecture.parse(early))}
    assert rows["batchnorm1"] == (8, 14, 14)
    assert models.count_params(early) == models.count_params(late)
    assert models.macs(early) == models.macs(late)
    assert models.ConvNet(**early)(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_architecture_table_shapes_follow_the_layers():
    rows = architecture.layers(architecture.parse(preset("seed_net")))
    convs = [r for r in rows if r.name.startswith("conv")]
    assert [r.out_shape[1] for r in convs] == [28, 28, 14, 14, 5, 3, 1]
    assert rows[-1].out_shape == (10, 1, 1)
    assert sum(r.params for r in rows) == 13_226


def test_multiply_adds_count_convs_at_their_resolution():
    cfg = {"widths": [4], "blocks": [1], "padding": 1, "pool": False, "head": "gap"}
    assert models.macs(cfg) == 1 * 4 * 9 * 28 * 28 + 4 * 10


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"widths": [8, 0, 16, 16, 16, 16, 16]}, "positive integers"),
        ({"widths": [8, -3, 16, 16, 16, 16, 16]}, "positive integers"),
        ({"blocks": [3, 3, 3]}, "adding up"),
        ({"padding": [0, 0, 0], "blocks": [2, 2, 3]}, "below 1x1"),
        ({"kernels": 4}, "must each be one of"),
        ({"dropout": 1.5}, "[0, 1)"),
        ({"pool_before_bn": [True, False, True]}, "only where the block pools"),
        ({"pool_before_bn": "yes"}, "true or false per block"),
        ({"head": "mlp"}, "model.head='mlp'"),
        ({"depth": 3}, "unknown key"),
        ({"separable": [True, False]}, "one value per block, one per conv"),
        ({"separable": ["yes", False, False]}, "model.separable=['yes', False, False"),
    ],
)
def test_invalid_architectures_are_refused_before_building(change, message):
    cfg = {**preset("seed_net"), **change}
    with pytest.raises(ConfigError, match=None) as err:
        models.count_params(cfg)
    assert message in str(err.value)


def test_saved_model_reloads_with_identical_outputs(tmp_path):

    cfg = preset("seed_net")
    torch.manual_seed(0)
    model = models.ConvNet(**cfg).eval()
    models.save(tmp_path / "model.pt", model, cfg)
    again = models.load(tmp_path / "model.pt")
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(model(x), again(x))


def test_padding_per_conv_equals_padding_per_block_when_each_conv_gets_its_blocks():
    per_block = {**preset("seed_net"), "padding": [1, 1, 0]}
    per_conv = {**preset("seed_net"), "padding": [1, 1, 1, 1, 0, 0, 0]}
    assert architecture.layers(architecture.parse(per_block)) == architecture.layers(
        architecture.parse(per_conv)
    )


def test_a_one_by_one_conv_left_unpadded_inside_a_padded_block_keeps_the_map_size():
    cfg = {"widths": [4, 8], "blocks": [2], "kernels": [3, 1], "padding": [1, 0], "pool": False}
    rows = [r for r in architecture.layers(architecture.parse(cfg)) if r.name.startswith("conv")]
    assert [r.out_shape for r in rows] == [(4, 28, 28), (8, 28, 28)]
    assert models.count_params(cfg) == models.trainable_params(models.ConvNet(**cfg))


def test_bn_after_relu_swaps_the_order_at_no_parameter_cost():
    after = {**preset("seed_net"), "bn_after_relu": True}
    names = [type(m).__name__ for m in models.ConvNet(**after).features[:3]]
    assert names == ["Conv2d", "ReLU", "BatchNorm2d"]
    assert models.count_params(after) == models.count_params(preset("seed_net"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"padding": [1, 1, 0, 0]}, "one value per block, one per conv"),
        ({"bn_after_relu": "yes"}, "model.bn_after_relu='yes'"),
        ({"conv_bias": 1}, "model.conv_bias=1"),
    ],
)
def test_bad_padding_lists_and_flags_are_refused_by_name(change, message):
    with pytest.raises(ConfigError) as err:
        models.count_params({**preset("seed_net"), **change})
    assert message in str(err.value)


def test_a_separable_conv_is_a_depthwise_then_a_pointwise_conv_counted_from_the_config():
    dense = {"widths": [8, 16], "blocks": [1, 1], "kernels": 3, "head": "gap"}
    per_block = dense | {"separable": [False, True]}
    per_conv = dense | {"separable": [False, True]}  # one conv per block: the same
    conv = [r for r in architecture.layers(architecture.parse(per_block)) if "separable" in r.name]
    assert [r.params for r in conv] == [8 * 9 + 8 * 16 + 16]  # depthwise (no bias), pointwise
    assert conv[0].macs == (8 * 9 + 8 * 16) * 14 * 14
    model = models.ConvNet(**per_conv)
    assert models.count_params(per_block) == models.trainable_params(model)
    assert models.count_params(per_block) < models.count_params(dense)
    depthwise = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert [(m.in_channels, m.groups, m.bias) for m in depthwise] == [(8, 8, None)]


def test_separable_given_once_per_block_reaches_every_conv_of_the_block():
    cfg = {"widths": [8, 8, 16, 16], "blocks": [2, 2], "separable": [False, True]}
    assert architecture.parse(cfg).separable == (False, False, True, True)
    assert architecture.parse(cfg | {"separable": True}).separable == (True,) * 4
