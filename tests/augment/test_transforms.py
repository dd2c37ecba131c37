"""augment: every transform equals torchvision's v2 functional for the same fixed
parameters, draws its own parameters for every sample, and runs on any device."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

import augment
from augment.geometric import crop_grid, inverse_affine, warp
from augment.mixing import cutmix, mixup, sample_beta
from augment.photometric import (
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    colour_jitter,
    erase,
    linear_jitter,
)
from augment.signal import sample_at

BILINEAR = InterpolationMode.BILINEAR


def images(n: int = 4, c: int = 3, h: int = 12, w: int = 10, seed: int = 0) -> torch.Tensor:
    """Non-square images in [0, 1], so a swapped height and width would show."""
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def per_sample(fn, x, *params):
    """torchvision one image at a time, with that image's parameters."""
    return torch.stack([fn(x[i], *(p[i] for p in params)) for i in range(len(x))])


# ----------------------------------------------------------------------------- parity


def test_affine_equals_torchvision_per_sample():
    x = images()
    angle = torch.tensor([0.0, 17.0, -33.0, 5.0])
    tx, ty = torch.tensor([0.0, 1.5, -2.0, 0.3]), torch.tensor([0.0, -1.0, 2.5, 0.0])
    scale = torch.tensor([1.0, 0.8, 1.2, 1.05])
    sx, sy = torch.tensor([0.0, 10.0, -5.0, 20.0]), torch.tensor([0.0, 0.0, 7.0, -3.0])
    ours = warp(x, inverse_affine(angle, tx, ty, scale, sx, sy))

    def theirs(img, a, u, v, s, hx, hy):
        return TF.affine(
            img, angle=float(a), translate=[float(u), float(v)], scale=float(s),
            shear=[float(hx), float(hy)], interpolation=BILINEAR,
        )  # fmt: skip

    expected = per_sample(theirs, x, angle, tx, ty, scale, sx, sy)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)


def test_resized_crop_equals_torchvision_per_sample():
    x = images()
    top, left = torch.tensor([0.0, 2.0, 5.0, 1.0]), torch.tensor([0.0, 3.0, 1.0, 4.0])
    height, width = torch.tensor([12.0, 7.0, 6.0, 9.0]), torch.tensor([10.0, 5.0, 8.0, 3.0])
    grid = crop_grid(top, left, height, width, (12, 10))
    ours = torch.nn.functional.grid_sample(x, grid, mode="bilinear", align_corners=True)

    def theirs(img, i, j, h, w):
        return TF.resized_crop(
            img, int(i), int(j), int(h), int(w), size=[12, 10], interpolation=BILINEAR
        )

    torch.testing.assert_close(
        ours, per_sample(theirs, x, top, left, height, width), atol=1e-5, rtol=0
    )


def test_hflip_equals_torchvision():
    x = images()
    flip = augment.create_transform("hflip", p=1.0)(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(flip, TF.horizontal_flip(x), atol=0, rtol=0)


@pytest.mark.parametrize(
    ("ours", "theirs", "factors"),
    [
        (adjust_brightness, TF.adjust_brightness, [0.5, 1.0, 1.3, 0.9]),
        (adjust_contrast, TF.adjust_contrast, [0.5, 1.0, 1.3, 0.0]),
        (adjust_saturation, TF.adjust_saturation, [0.5, 1.0, 1.3, 0.0]),
        (adjust_hue, TF.adjust_hue, [0.0, 0.1, -0.25, 0.5]),
    ],
    ids=["brightness", "contrast", "saturation", "hue"],
)
@pytest.mark.parametrize("channels", [3, 1])
def test_colour_equals_torchvision_per_sample(ours, theirs, factors, channels):
    if channels == 1 and ours in (adjust_saturation, adjust_hue):
        pytest.skip("saturation and hue are for colour images (refused on one channel)")
    x = images(c=channels) * 0.7  # torchvision clamps to [0, 1]: compare clamped
    f = torch.tensor(factors)
    expected = per_sample(lambda img, v: theirs(img, float(v)), x, f)
    torch.testing.assert_close(ours(x, f).clamp(0, 1), expected, atol=1e-5, rtol=0)


ORDERS = torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]])
TV_STEPS = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)


def test_colour_jitter_in_each_samples_order_equals_torchvision_in_that_order():
    """Four samples, four orders of (brightness, contrast, saturation, hue): each as
    torchvision's functions applied one after the other in that sample's order."""
    x = 0.2 + 0.4 * images()  # within [0, 1] all along: torchvision's clamps do nothing
    b, c = torch.tensor([0.8, 1.2, 1.1, 0.9]), torch.tensor([1.2, 0.8, 0.9, 1.15])
    s, h = torch.tensor([0.85, 1.2, 1.1, 0.8]), torch.tensor([0.2, -0.3, 0.1, -0.15])
    ours = colour_jitter(x, b, c, s, h, ORDERS)
    expected = []
    for i in range(len(x)):
        img = x[i]
        for k in ORDERS[i].tolist():
            img = TV_STEPS[k](img, float((b, c, s, h)[k][i]))
        expected.append(img)
    torch.testing.assert_close(ours, torch.stack(expected), atol=1e-5, rtol=0)
    # The order matters (through hue): one order for all would give another batch.
    same = colour_jitter(x, b, c, s, h, ORDERS[:1].expand(4, -1))
    assert not torch.allclose(same, ours, atol=1e-3)


def test_colour_with_hue_draws_factors_and_an_order_for_every_sample():
    x = 0.2 + 0.4 * images(n=64)
    jitter = augment.create_transform(
        "color", brightness=0.2, contrast=0.2, saturation=0.2, hue=0.1
    )
    out = jitter(x, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)  # the same draws, in the transform's sequence
    b, c, s = (0.8 + 0.4 * torch.rand(64, generator=g) for _ in range(3))
    h = -0.1 + 0.2 * torch.rand(64, generator=g)
    order = torch.rand(64, 4, generator=g).argsort(dim=1)
    torch.testing.assert_close(out, colour_jitter(x, b, c, s, h, order), atol=1e-6, rtol=0)
    assert set(order.argsort(dim=1)[:, 3].tolist()) == {0, 1, 2, 3}  # hue at every place


@pytest.mark.parametrize("channels", [3, 1])
def test_brightness_contrast_saturation_in_one_pass_equal_three(channels):
    x = images(c=channels)
    b, c = torch.tensor([0.5, 1.0, 1.3, 0.9]), torch.tensor([0.5, 1.0, 1.3, 0.0])
    s = torch.tensor([0.5, 1.0, 1.3, 0.0]) if channels == 3 else None
    steps = adjust_contrast(adjust_brightness(x, b), c)
    steps = adjust_saturation(steps, s) if s is not None else steps
    torch.testing.assert_close(linear_jitter(x, b, c, s), steps, atol=1e-5, rtol=0)


def test_erase_equals_torchvision_per_sample():
    x = images()
    top, left = torch.tensor([0, 3, 5, 11]), torch.tensor([0, 2, 9, 4])
    height, width = torch.tensor([4, 2, 7, 1]), torch.tensor([10, 3, 1, 0])
    ours = erase(x, top, left, height, width, 0.25)

    def theirs(img, i, j, h, w):
        return TF.erase(img, int(i), int(j), int(h), int(w), torch.tensor(0.25))

    torch.testing.assert_close(
        ours, per_sample(theirs, x, top, left, height, width), atol=0, rtol=0
    )


# ----------------------------------------------------------------------------- signals


def test_shift_is_a_roll_per_sample():
    x = torch.randn(6, 20, 3)
    shift = augment.create_transform("shift", max_shift=0.5)
    g = torch.Generator().manual_seed(1)
    out = shift(x, g)
    u = torch.rand(6, generator=torch.Generator().manual_seed(1))
    k = torch.floor(u * 21) - 10  # U{-10, ..., 10}
    expected = torch.stack([torch.roll(x[i], int(k[i]), dims=0) for i in range(6)])
    torch.testing.assert_close(out, expected, atol=0, rtol=0)
    assert len({int(v) for v in k}) > 1


# Padded sequences: 16 steps at most, the valid ones first, zeros after.
LENGTHS = torch.tensor([16, 11, 6, 2, 1, 16, 9, 3])


def padded(features: int = 2, seed: int = 0) -> torch.Tensor:
    x = torch.randn(len(LENGTHS), 16, features, generator=torch.Generator().manual_seed(seed))
    return x * (torch.arange(16)[None, :, None] < LENGTHS[:, None, None])


def test_shift_of_a_padded_batch_rolls_the_valid_steps_only():
    x = padded()
    out, lengths = augment.build_augment({"name": "shift", "max_shift": 0.5}, "sequence", (16, 2))(
        (x, LENGTHS), torch.Generator().manual_seed(1)
    )
    u = torch.rand(len(x), generator=torch.Generator().manual_seed(1))
    most = torch.floor(0.5 * LENGTHS)
    k = torch.floor(u * (2 * most + 1)) - most  # U{-⌊L/2⌋, ..., ⌊L/2⌋}
    expected = torch.zeros_like(x)
    for i, n in enumerate(LENGTHS.tolist()):
        expected[i, :n] = torch.roll(x[i, :n], int(k[i]), dims=0)
    assert torch.equal(lengths, LENGTHS)
    torch.testing.assert_close(out, expected, atol=0, rtol=0)
    assert len({int(v) for v in k}) > 2


def test_time_warp_of_a_padded_batch_keeps_each_sequences_ends():
    x = padded()
    out, _ = augment.build_augment({"name": "time_warp", "sigma": 0.3}, "sequence", (16, 2))(
        (x, LENGTHS), torch.Generator().manual_seed(0)
    )
    last = LENGTHS - 1
    rows = torch.arange(len(x))
    torch.testing.assert_close(out[:, 0], x[:, 0], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[rows, last], x[rows, last], atol=1e-5, rtol=0)
    assert not torch.allclose(out, x)


SEQUENCE_AUGMENTS = [
    n
    for n in augment.list_augments()
    if "sequence" in augment.AUGMENTS.meta(n)["kinds"] and not augment.AUGMENTS.meta(n)["mixes"]
]


@pytest.mark.parametrize("name", SEQUENCE_AUGMENTS)
def test_padded_sequences_are_augmented_within_their_lengths(name):
    """The padding stays zero and is never read: garbage there changes nothing."""
    x = padded()
    valid = (torch.arange(16)[None, :] < LENGTHS[:, None]).unsqueeze(-1).expand_as(x)
    junk = torch.where(valid, x, torch.full_like(x, 1e3))
    pipeline = augment.build_augment(name, "sequence", (16, 2))
    out, lengths = pipeline((x, LENGTHS), torch.Generator().manual_seed(0))
    out_junk, _ = pipeline((junk, LENGTHS), torch.Generator().manual_seed(0))
    assert torch.equal(lengths, LENGTHS)
    assert not out[~valid].any()  # the padding is left zero
    torch.testing.assert_close(out_junk, out, atol=1e-5, rtol=0)
    assert not torch.allclose(out[valid], x[valid])  # the valid steps did change


def test_crop_resize_equals_linear_interpolation_of_the_window():
    x = torch.randn(1, 20, 2)
    start, length = 3, 15
    tau = start + torch.linspace(0, length - 1, 20)[None]
    window = x[:, start : start + length].transpose(1, 2)  # (1, F, L)
    expected = torch.nn.functional.interpolate(window, size=20, mode="linear", align_corners=True)
    torch.testing.assert_close(sample_at(x, tau), expected.transpose(1, 2), atol=1e-5, rtol=0)


def test_time_warp_keeps_the_ends_and_zero_sigma_is_the_identity():
    x = torch.randn(5, 30, 2)
    g = torch.Generator().manual_seed(0)
    warped = augment.create_transform("time_warp", sigma=0.3)(x, g)
    torch.testing.assert_close(warped[:, [0, -1]], x[:, [0, -1]], atol=1e-5, rtol=0)
    assert not torch.allclose(warped, x)
    same = augment.create_transform("time_warp", sigma=0.0)(x, g)
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)


def test_scaling_multiplies_each_sample_and_feature_by_one_factor():
    x = torch.ones(8, 30, 2)
    out = augment.create_transform("scaling", sigma=0.5)(x, torch.Generator().manual_seed(0))
    assert torch.equal(out, out[:, :1].expand_as(out))  # one factor over time
    assert out[:, 0].unique().numel() == 16  # a factor per sample and feature


# ----------------------------------------------------------------------------- mixing


def test_mixup_and_cutmix_weights_sum_to_one():
    x, t = images(n=8, c=1, h=8, w=8), torch.eye(4).repeat(2, 1)
    g = torch.Generator().manual_seed(0)
    for name in ("mixup", "cutmix"):
        xm, tm = augment.create_transform(name).mix(x, t, g)
        assert xm.shape == x.shape and tm.shape == t.shape
        torch.testing.assert_close(tm.sum(1), torch.ones(8))
        assert (tm >= 0).all() and not torch.equal(tm, t)


def test_mixup_and_cutmix_follow_their_formulas():
    x, t = images(n=3, c=1, h=4, w=4), torch.eye(3)
    lam, perm = torch.tensor([0.2, 0.5, 1.0]), torch.tensor([2, 0, 1])
    xm, tm = mixup(x, t, lam, perm)
    torch.testing.assert_close(xm[0], 0.2 * x[0] + 0.8 * x[2])
    torch.testing.assert_close(tm[1], torch.tensor([0.5, 0.5, 0.0]))
    box = tuple(torch.tensor(v) for v in ([1, 0, 0], [1, 0, 0], [2, 4, 0], [2, 2, 0]))
    xc, tc = cutmix(x, t, box, perm)
    torch.testing.assert_close(xc[0, :, 1:3, 1:3], x[2, :, 1:3, 1:3])
    torch.testing.assert_close(xc[0, :, 0], x[0, :, 0])
    torch.testing.assert_close(tc[0], torch.tensor([0.75, 0.0, 0.25]))  # 4 of 16 pixels
    torch.testing.assert_close(tc[1], torch.tensor([0.5, 0.5, 0.0]))  # 8 of 16
    torch.testing.assert_close(tc[2], t[2])  # an empty box


@pytest.mark.parametrize("alpha", [0.2, 1.0, 3.0])
def test_beta_draws_have_the_beta_moments(alpha):
    lam = sample_beta(alpha, 20000, torch.Generator().manual_seed(0), "cpu").double()
    var = 1 / (4 * (2 * alpha + 1))  # Beta(α, α): mean 1/2, variance 1 / (4(2α + 1))
    assert abs(lam.mean() - 0.5) < 0.01 and abs(lam.var() - var) < 0.1 * var
    assert ((lam >= 0) & (lam <= 1)).all()


# ----------------------------------------------------------------------------- every entry


def example(name: str) -> tuple[str, tuple[int, ...], torch.Tensor]:
    kinds = augment.AUGMENTS.meta(name)["kinds"]
    if "image" in kinds:
        return "image", (3, 8, 8), images(n=6, c=3, h=8, w=8) * 16  # raw units, as digits
    return "sequence", (16, 2), torch.randn(6, 16, 2)


@pytest.mark.parametrize("name", augment.list_augments())
def test_every_augment_keeps_shapes_and_repeats_with_the_generator(name):
    kind, shape, x = example(name)
    pipeline = augment.build_augment(name, kind, shape)
    t = torch.eye(6)
    a = pipeline.batch(x, t, torch.Generator().manual_seed(3))
    b = pipeline.batch(x, t, torch.Generator().manual_seed(3))
    c = pipeline.batch(x, t, torch.Generator().manual_seed(4))
    assert a[0].shape == x.shape and torch.isfinite(a[0]).all()
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # the generator decides
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize("name", augment.list_augments())
def test_every_augment_draws_its_own_parameters_for_every_sample(name):
    """Two identical samples in a batch come out different (torchvision's v2 would
    transform them alike, with one draw for the batch)."""
    kind, shape, x = example(name)
    x = x[:1].expand(8, *x.shape[1:]).contiguous()  # the same sample 8 times
    options = {"erasing": {"p": 1.0}, "crop_resize": {"ratio": 0.5}, "shift": {"max_shift": 0.5}}
    options = options.get(name, {})
    pipeline = augment.build_augment({"name": name, **options}, kind, shape)
    out, _ = pipeline.batch(x, torch.eye(8), torch.Generator().manual_seed(0))
    if name == "hflip":  # two outcomes only: some samples flipped, some not
        flipped = (out == x.flip(-1)).flatten(1).all(1)
        assert flipped.any() and not flipped.all()
        assert torch.equal(out[~flipped], x[~flipped])
        return
    if pipeline.mixes:  # with copies, mixing is the identity on the inputs
        return
    distinct = {tuple(o.flatten().tolist()) for o in out}
    if name in ("shift", "crop_resize"):  # whole steps: a few values, which may repeat
        assert len(distinct) > 2
        return
    assert len(distinct) == 8, f"{name}: {len(distinct)} different outputs of 8 equal inputs"


def test_a_generator_on_the_device_keeps_the_batch_there():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    x = images().to(device)
    pipeline = augment.build_augment("strong", "image", (3, 12, 10))
    out = pipeline(x, torch.Generator(device=device).manual_seed(0))
    assert out.device == x.device


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("config", "kind", "shape", "said"),
    [
        ("affine", "vector", (4,), "applies to image inputs, not vector"),
        ("jitter", "image", (1, 8, 8), "for image data use augment="),
        ("light", "graph", (4,), "the one that fits is augment=none"),
        ({"name": "color", "saturation": 0.3}, "image", (1, 8, 8), "need 3 colour channels"),
        ({"name": "color", "hue": 0.1}, "image", (1, 8, 8), "need 3 colour channels"),
        ("affine", "image", (64,), "needs images (C, H, W)"),
    ],
)
def test_what_does_not_fit_is_one_line(config, kind, shape, said):
    with pytest.raises(
        augment.AugmentError, match=said.replace("(", r"\(").replace(")", r"\)")
    ) as e:
        augment.build_augment(config, kind, shape)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "config",
    [
        {"name": "affine", "degrees": -1},
        {"name": "affine", "scale": [1.2, 0.8]},
        {"name": "hflip", "p": 1.5},
        {"name": "mixup", "alpha": 0},
        {"name": "crop_resize", "ratio": 0},
    ],
)
def test_bad_options_are_value_errors(config):
    kind = "sequence" if config["name"] == "crop_resize" else "image"
    with pytest.raises(ValueError, match=config["name"]):
        augment.build_augment(config, kind, (3, 8, 8) if kind == "image" else (8, 1))


def test_unknown_name_lists_the_names():
    with pytest.raises(augment.UnknownNameError, match="available: affine"):
        augment.build_augment("rotate", "image", (1, 8, 8))
