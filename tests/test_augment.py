"""Per-sample random transforms on batches: exact flips, identity at zero, seeded, per sample."""

from __future__ import annotations

import pytest
import torch

from mnist_sweep.augment import Augment
from mnist_sweep.errors import ConfigError

BG = -0.4242
AFFINE = {"degrees": 15, "translate": [0.1, 0.1], "scale": [0.9, 1.1], "shear": 10}


def batch(n: int = 16) -> torch.Tensor:
    return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_hflip_with_p1_mirrors_every_image():
    x = batch()
    assert torch.equal(Augment({"hflip": {"p": 1.0}}, BG)(x, gen()), x.flip(-1))


def test_vflip_with_p1_mirrors_every_image_top_to_bottom():
    x = batch()
    assert torch.equal(Augment({"vflip": {"p": 1.0}}, BG)(x, gen()), x.flip(-2))


def test_flip_probability_picks_images_independently():
    x = batch(256)
    out = Augment({"hflip": {"p": 0.5}}, BG)(x, gen())
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    assert 64 < int(flipped.sum()) < 192


def test_rotate_by_zero_degrees_is_identity():
    x = batch()
    out = Augment({"rotate": {"degrees": 0}}, BG)(x, gen())
    assert torch.allclose(out, x, atol=1e-5)


def test_rotation_keeps_a_blank_image_blank():
    x = torch.full((4, 1, 28, 28), BG)
    out = Augment({"rotate": {"degrees": 45}}, BG)(x, gen())
    assert torch.allclose(out, x, atol=1e-5)


def test_samples_in_one_batch_get_different_rotations():
    x = batch(1).repeat(8, 1, 1, 1)
    out = Augment({"rotate": {"degrees": 30}}, BG)(x, gen())
    assert len({tuple(o.flatten()[::37].tolist()) for o in out}) == 8


def test_same_seed_gives_same_augmentation_and_other_seeds_differ():
    aug = Augment({"rotate": {"degrees": 20}, "affine": AFFINE, "hflip": {"p": 0.5}}, BG)
    x = batch()
    assert torch.equal(aug(x, gen(3)), aug(x, gen(3)))
    assert not torch.equal(aug(x, gen(3)), aug(x, gen(4)))


def test_rotation_by_90_degrees_turns_the_image():
    x = batch(1)
    aug = Augment({"rotate": {"degrees": 90}}, BG)
    theta = aug._matrices(1, gen(), torch.device("cpu"))
    angle = torch.rad2deg(torch.atan2(theta[0, 1, 0], theta[0, 0, 0]))
    assert -90 <= float(angle) <= 90
    assert aug(x, gen()).shape == x.shape


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"blur": {"sigma": 1}}, "aug.blur is not a known transform"),
        ({"rotate": {"degrees": 20, "fill": 0}}, "unknown setting(s) ['fill']"),
        ({"rotate": {"degrees": -5}}, "aug.rotate.degrees=-5"),
        ({"hflip": {"p": 2}}, "aug.hflip.p=2"),
        ({"affine": {**AFFINE, "scale": [1.2, 0.8]}}, "aug.affine.scale=[1.2, 0.8]"),
        ({"affine": {**AFFINE, "translate": [0.5]}}, "aug.affine.translate=[0.5]"),
    ],
)
def test_bad_augmentation_settings_are_refused_by_name(cfg, message):
    with pytest.raises(ConfigError) as err:
        Augment(cfg, BG)
    assert message in str(err.value)
