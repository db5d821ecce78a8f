"""Every option of every config group composes, and bad values are refused by name."""

from __future__ import annotations

import pytest

from mnist_sweep.config import validate
from mnist_sweep.errors import ConfigError
from mnist_sweep.models import count_params
from tests.conftest import CONF

GROUPS = [
    "data",
    "model",
    "aug",
    "optim",
    "sched",
    "device",
    "trainer",
    "budget",
    "experiment",
    "debug",
]
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_group_option_composes_and_validates(make_cfg, group, option):
    cfg = make_cfg(f"{group}={option}")
    plain = validate(cfg)
    if group == "device":
        assert plain["device"]["name"] == option


def test_aug_options_combine_into_one_mapping(make_cfg):
    plain = validate(make_cfg("aug=[rotate,affine,hflip]"))
    assert list(plain["aug"]) == ["rotate", "affine", "hflip"]


def test_aug_none_means_no_transform(make_cfg):
    assert not validate(make_cfg("aug=none")).get("aug")


def test_experiment_seed_is_the_reference_recipe(make_cfg):
    plain = validate(make_cfg("experiment=seed"))
    assert plain["optim"]["_target_"] == "torch.optim.SGD"
    assert plain["optim"]["lr"] == 0.001 and plain["optim"]["momentum"] == 0.9
    assert plain["trainer"]["batch_size"] == 32 and plain["trainer"]["epochs"] == 20
    assert plain["aug"] == {"rotate": {"degrees": 20}}
    assert plain["model"]["widths"] == [8, 16, 16, 16, 16, 16, 16]


@pytest.mark.parametrize("preset", ["tiny", "best"])
def test_search_found_presets_fit_the_budget_and_state_their_count(make_cfg, preset):
    plain = validate(make_cfg(f"experiment={preset}"))
    params = count_params(plain["model"])
    assert params < plain["budget"]["max_params"]
    assert plain["trainer"]["epochs"] <= plain["budget"]["max_epochs"]
    header = (CONF / "experiment" / f"{preset}.yaml").read_text()
    assert f"{params:,} parameters" in header and "Confirmed on held-out seeds" in header


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("optim.lr=abc", "optim.lr='abc'"),
        ("optim.lr=-0.1", "optim.lr=-0.1"),
        ("trainer.epochs=0", "trainer.epochs=0"),
        ("trainer.batch_size=0", "trainer.batch_size=0"),
        ("trainer.label_smoothing=1.5", "trainer.label_smoothing=1.5"),
        ("trainer.ema=1", "trainer.ema=1 is not allowed"),
        ("model.separable=abc", "model.separable='abc' is not allowed"),
        ("model.widths=[8,0,16,16,16,16,16]", "model.widths=[8, 0, 16"),
        ("model.widths=[8,-4,16,16,16,16,16]", "model.widths=[8, -4, 16"),
        ("model.blocks=[2,2]", "model.blocks=[2, 2]"),
        ("model.head=softmax", "model.head='softmax'"),
        ("model.padding=[1,1]", "model.padding=[1, 1]"),
        ("device.precision=fp8", "device.precision='fp8'"),
        ("device.threads=0", "device.threads=0"),
        ("data.val_size=60000", "data.val_size=60000"),
        ("data.sources=[ftp]", "'ftp'"),
        ("aug=rotate aug.rotate.degrees=abc", "aug.rotate.degrees='abc'"),
        ("aug=rotate +aug.rotate.angle=3", "aug.rotate has unknown setting(s) ['angle']"),
        ("aug=affine aug.affine.scale=[1.2,0.8]", "aug.affine.scale=[1.2, 0.8]"),
        ("aug=intensity aug.intensity.brightness=2", "aug.intensity.brightness=2"),
        ("sched.pct_start=lots", "sched.pct_start='lots'"),
        ("budget.max_params=-1", "budget.max_params=-1"),
        ("budget.max_macs=0", "budget.max_macs=0"),
        ("budget.max_macs=lots", "budget.max_macs='lots'"),
        ("budget.target_acc=99.4", "budget.target_acc=99.4"),
        ("sched=plateau sched.patience=-1", "sched.patience=-1"),
        ("sched=plateau sched.factor=1.5", "sched.factor=1.5"),
        ("sched=step sched.step_epochs=0", "sched.step_epochs=0"),
        ("sched=cosine sched.min_lr=-1", "sched.min_lr=-1"),
        ("optim.momentum=2", "optim.momentum=2"),
        ("optim.nesterov=maybe", "optim.nesterov='maybe'"),
        ("model.widths=8", "model.widths=8"),
        ("model.blocks=6", "model.blocks=6"),
        ("model.widths=abc", "model.widths='abc'"),
        ("model.pool=abc", "model.pool='abc'"),
        ("model.pool=[1,0,0]", "model.pool=[1, 0, 0]"),
        ("model.conv_bias=1e308", "model.conv_bias=1e+308"),
        ("+model.in_channels=abc", "model.in_channels='abc'"),
        ("data.val_size=59999", "data.val_size=59999"),
        ("trainer.seed=" + "1" + "0" * 30, "trainer.seed=1" + "0" * 30),
        ("data.split_seed=abc", "data.split_seed='abc'"),
        ("data.mean=" + "1" + "0" * 30, "data.mean=1" + "0" * 30),
        ("data.std=2", "data.std=2"),
        ("allowed_targets=null", "allowed_targets=None"),
        ("optim.lr=1e308", "optim.lr=1e+308"),
        ("optim.weight_decay=" + "1" + "0" * 30, "optim.weight_decay=1" + "0" * 30),
        ("optim.momentum=0", "optim.momentum=0"),
        ("trainer.batch_size=1", "trainer.batch_size=1"),
        ("device.threads=" + "1" + "0" * 30, "device.threads=1" + "0" * 30),
        ("model.head='${nope}'", "at model.head"),
    ],
)
def test_bad_value_is_refused_naming_key_and_value(make_cfg, override, named):
    with pytest.raises(ConfigError) as err:
        validate(make_cfg(*override.split()))
    assert named in str(err.value)
