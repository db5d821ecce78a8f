"""Devices, schedules and the training loop on a tiny slice."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from mnist_sweep import engine, targets
from mnist_sweep.augment import Augment
from mnist_sweep.data import Splits
from mnist_sweep.errors import ConfigError
from mnist_sweep.models import ConvNet
from tests.conftest import CONF

TINY = {"widths": [4, 8], "blocks": [1, 1], "padding": 1, "pool": True, "head": "gap"}


def tiny_splits(n: int = 256, val: bool = False) -> Splits:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)
    return Splits(x, y, x[:64], y[:64], *((x[:32], y[:32]) if val else (None, None)))


def fit(
    sched: str, *, val: bool = False, epochs: int = 2, model: ConvNet | None = None, **kw
) -> engine.History:
    torch.manual_seed(0)
    model = model or ConvNet(**TINY)
    sched_cfg = OmegaConf.load(CONF / "sched" / f"{sched}.yaml")
    if "max_lr" in sched_cfg:
        sched_cfg.max_lr = 0.05
    args = {
        "optim_cfg": {"_target_": "torch.optim.SGD", "lr": 0.05, "momentum": 0.9},
        "sched_cfg": sched_cfg,
        "augment": Augment({"rotate": {"degrees": 10}}, 0.0),
        "epochs": epochs,
        "batch_size": 32,
        "label_smoothing": 0.0,
        "grad_clip": None,
        "precision": "fp32",
        "channels_last": True,
        "seed": 0,
    } | kw
    return engine.fit(model, tiny_splits(val=val), **args)


def test_auto_device_falls_back_to_an_available_one():
    assert engine.resolve_device("auto").type in ("cuda", "mps", "cpu")
    assert engine.resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_cuda_names_what_is_available():
    with pytest.raises(ConfigError, match="no CUDA device.*available here: cpu"):
        engine.resolve_device("cuda")


@pytest.mark.parametrize("sched", ["none", "step", "onecycle", "cosine", "plateau"])
def test_every_schedule_trains_and_records_one_row_per_epoch(sched):
    history = fit(sched)
    assert [r["epoch"] for r in history.rows] == [1, 2]
    assert all(r["lr"] > 0 for r in history.rows)
    assert history.test is not None and len(history.test.pred) == 64


def test_onecycle_learning_rate_rises_then_falls():
    history = fit("onecycle", epochs=3)
    lrs = [r["lr"] for r in history.rows]
    assert lrs[0] < max(lrs) and lrs[-1] < max(lrs)


def test_plateau_watches_validation_loss_when_a_split_exists(monkeypatch):
    seen = []
    monkeypatch.setattr(
        torch.optim.lr_scheduler.ReduceLROnPlateau, "step", lambda self, metric: seen.append(metric)
    )
    history = fit("plateau", val=True)
    assert seen == [r["val_loss"] for r in history.rows]


def test_plateau_watches_training_loss_without_a_split(monkeypatch):
    seen = []
    monkeypatch.setattr(
        torch.optim.lr_scheduler.ReduceLROnPlateau, "step", lambda self, metric: seen.append(metric)
    )
    history = fit("plateau")
    assert seen == [r["train_loss"] for r in history.rows]


def test_same_seed_trains_to_identical_weights():
    a, b = fit("onecycle"), fit("onecycle")
    assert a.rows[-1]["train_loss"] == b.rows[-1]["train_loss"]
    assert torch.equal(a.test.pred, b.test.pred)


def test_bf16_autocast_trains_on_cpu():
    history = fit("none", precision="bf16")
    assert torch.isfinite(torch.tensor(history.rows[-1]["train_loss"]))


def test_batch_larger_than_the_training_set_is_refused():
    with pytest.raises(ConfigError, match="trainer.batch_size=512"):
        fit("none", batch_size=512)


def test_a_config_target_outside_torch_optim_and_this_package_is_refused():
    with pytest.raises(ConfigError, match="optim could not be built"):
        targets.instantiate("optim", {"_target_": "os.system", "command": "true"})


def test_onecycle_too_short_for_its_two_phases_is_refused_by_name():
    with pytest.raises(ConfigError, match="sched=onecycle.*only 4 training steps"):
        fit("onecycle", epochs=1, batch_size=64)


def test_test_every_zero_evaluates_the_test_set_only_after_the_last_epoch():
    rows = fit("none", val=True, epochs=3, test_every=0).rows
    assert ["test_acc" in r for r in rows] == [False, False, True]
    assert all("val_acc" in r for r in rows)
    assert ["test_acc" in r for r in fit("none", epochs=4, test_every=2).rows] == [
        False,
        True,
        False,
        True,
    ]


def test_a_run_stopped_between_test_epochs_still_ends_with_a_test_evaluation():
    history = fit("none", val=True, epochs=3, test_every=0, on_epoch=lambda row: True)
    assert history.stopped and len(history.rows) == 1
    assert "test_acc" in history.rows[0] and history.test is not None


def test_step_schedule_warms_up_to_the_peak_then_steps_down_by_gamma():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = engine.step(
        optimizer, steps_per_epoch=2, epochs=5, step_epochs=2, gamma=0.1, warmup_epochs=1
    )
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        sched.step()
    assert lrs == pytest.approx([0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01])


@pytest.mark.parametrize("optim", ["sgd", "adam", "adamw", "adagrad"])
def test_every_optimizer_option_trains(optim):
    optim_cfg = OmegaConf.to_container(OmegaConf.load(CONF / "optim" / f"{optim}.yaml"))
    history = fit("none", epochs=1, optim_cfg=optim_cfg)
    assert len(history.rows) == 1 and history.rows[0]["train_loss"] > 0


def test_val_every_zero_validates_only_after_the_last_epoch_unless_the_scheduler_needs_it():
    rows = fit("none", val=True, epochs=3, val_every=0).rows
    assert ["val_acc" in r for r in rows] == [False, False, True]
    assert all("val_acc" in r for r in fit("plateau", val=True, epochs=2, val_every=0).rows)


def test_the_moving_average_of_the_weights_is_what_is_evaluated_and_kept():
    plain = fit("none")

    def drift(**kw: object) -> tuple[float, engine.History]:
        """How far training moves the kept weights from where they started."""
        torch.manual_seed(0)
        model = ConvNet(**TINY)
        start = {k: v.clone() for k, v in model.state_dict().items() if v.is_floating_point()}
        history = fit("none", model=model, epochs=4, **kw)
        now = model.state_dict()
        return max(float((now[k] - v).abs().max()) for k, v in start.items()), history

    trained, _ = drift()
    averaged, slow = drift(ema=0.999)  # the average lags far behind the trained weights
    assert averaged < trained  # the kept weights are the lagging average, not the trained ones
    assert slow.test.loss != plain.test.loss  # and they are what the test set judged
