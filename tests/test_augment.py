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


WHITE = (1 - 0.1307) / 0.3081  # pixel 1 under the normalization whose pixel 0 is BG


def pixels(n: int = 16) -> torch.Tensor:
    """Normalized images whose pixels lie in [0, 1], the range intensity keeps."""
    return BG + torch.rand(n, 1, 28, 28, generator=gen(1)) * (WHITE - BG)


def test_intensity_at_zero_strength_is_identity():
    x = pixels()
    out = Augment({"intensity": {"brightness": 0, "contrast": 0}}, BG, WHITE)(x, gen())
    assert torch.allclose(out, x, atol=1e-5)


def test_brightness_shifts_each_image_by_its_own_offset_within_the_setting():
    x = BG + 0.5 * (WHITE - BG) * torch.ones(64, 1, 28, 28)  # mid-grey: no clamping
    out = Augment({"intensity": {"brightness": 0.2, "contrast": 0}}, BG, WHITE)(x, gen())
    offset = ((out - x) / (WHITE - BG)).flatten(1)
    assert torch.allclose(offset, offset[:, :1].expand_as(offset), atol=1e-5)
    assert offset.abs().max() <= 0.2 + 1e-5 and len(set(offset[:, 0].tolist())) == 64


def test_contrast_keeps_black_black_and_values_stay_in_the_pixel_range():
    blank = torch.full((8, 1, 28, 28), BG)
    aug = Augment({"intensity": {"brightness": 0, "contrast": 0.5}}, BG, WHITE)
    assert torch.allclose(aug(blank, gen()), blank, atol=1e-6)
    out = Augment({"intensity": {"brightness": 0.5, "contrast": 0.5}}, BG, WHITE)(pixels(), gen())
    assert out.min() >= BG - 1e-6 and out.max() <= WHITE + 1e-6


def test_intensity_combines_with_affine_and_is_seeded():
    aug = Augment({"affine": AFFINE, "intensity": {"brightness": 0.2, "contrast": 0.2}}, BG, WHITE)
    x = pixels()
    assert torch.equal(aug(x, gen(3)), aug(x, gen(3)))
    assert not torch.equal(aug(x, gen(3)), aug(x, gen(4)))


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"intensity": {"brightness": 1.5, "contrast": 0.2}}, "aug.intensity.brightness=1.5"),
        ({"intensity": {"brightness": 0.2, "contrast": -1}}, "aug.intensity.contrast=-1"),
        ({"intensity": {"brightness": 0.2}}, "misses ['contrast']"),
    ],
)
def test_bad_intensity_settings_are_refused_by_name(cfg, message):
    with pytest.raises(ConfigError) as err:
        Augment(cfg, BG, WHITE)
    assert message in str(err.value)
