"""Photometric image transforms: colour jitter, Gaussian noise, random erasing.

They change intensities, not positions. With per-sample factors b, c, σ_s, δ and
the grey level g(x) = 0.2989·R + 0.587·G + 0.114·B (ITU-R 601, torchvision's
weights; a one-channel image is its own grey level):

    brightness   x ← b·x
    contrast     x ← c·x + (1 − c)·mean(g(x))          (mean over the image)
    saturation   x ← σ_s·x + (1 − σ_s)·g(x)             (per pixel)
    hue          H ← (H + δ) mod 1                      (in HSV)
    noise        x ← x + σ·ε,  ε ~ N(0, 1)
    erasing      x ← v inside a random box (Zhong et al. 2020, "Random erasing")

These are torchvision's ``transforms.v2.functional`` formulas, which the tests
compare them with. torchvision clamps float images to [0, 1]; these do not, since
the zoo's images come in their own ranges (the digits' 0-16 grey levels): the
pipeline applies colour in the data's raw units, noise in its scaled units (so σ
is a fraction of each channel's spread).

Shapes: images ``(B, C, H, W)`` in, the same out.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from augment.base import (
    AugmentError,
    box_mask,
    check_range,
    chosen,
    gaussian_noise,
    random_box,
    register_augment,
    uniform,
)
from augment.geometric import ImageTransform

GREY = (0.2989, 0.587, 0.114)  # ITU-R 601 luma weights of R, G, B


def grey(x: Tensor) -> Tensor:
    """Grey level of each pixel: ``(B, C, H, W) -> (B, 1, H, W)``."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(dim=1)
    return (GREY[0] * r + GREY[1] * g + GREY[2] * b).unsqueeze(1)


def rgb_to_hsv(x: Tensor) -> Tensor:
    """``(B, 3, H, W)`` RGB -> HSV, each of H, S, V in [0, 1] for RGB in [0, 1]."""
    r, g, b = x.unbind(dim=1)
    v, _ = x.max(dim=1)
    spread = v - x.min(dim=1).values
    flat = spread == 0
    s = spread / torch.where(flat, torch.ones_like(v), v)
    d = torch.where(flat, torch.ones_like(spread), spread)
    rc, gc, bc = (v - r) / d, (v - g) / d, (v - b) / d  # distance from the max, per channel
    h = torch.where(v == r, bc - gc, torch.where(v == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(flat, torch.zeros_like(h), h)
    return torch.stack([(h / 6.0 + 1.0) % 1.0, s, v], dim=1)


def hsv_to_rgb(x: Tensor) -> Tensor:
    """``(B, 3, H, W)`` HSV -> RGB (the inverse of :func:`rgb_to_hsv`)."""
    h, s, v = x.unbind(dim=1)
    h6 = h * 6.0
    i = torch.floor(h6)
    f = h6 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    sector = i.long().remainder(6).unsqueeze(1)  # (B, 1, H, W): which 60° of the wheel
    # The (R, G, B) of each sector, as indices into (v, p, q, t).
    table = torch.tensor([[0, 2, 1, 1, 3, 0], [3, 0, 0, 2, 1, 1], [1, 1, 3, 0, 0, 2]])
    vpqt = torch.stack([v, p, q, t], dim=1)  # (B, 4, H, W)
    index = table.to(x.device)[:, sector[:, 0]].movedim(0, 1)  # (B, 3, H, W)
    return vpqt.gather(1, index)


def per_sample(values: Tensor, x: Tensor) -> Tensor:
    """``(B,)`` -> ``(B, 1, 1, 1)``, one factor per image."""
    return values.view(-1, 1, 1, 1).to(x.dtype)


def adjust_brightness(x: Tensor, b: Tensor) -> Tensor:
    return x * per_sample(b, x)


def adjust_contrast(x: Tensor, c: Tensor) -> Tensor:
    mean = grey(x).mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    c = per_sample(c, x)
    return c * x + (1 - c) * mean


def adjust_saturation(x: Tensor, s: Tensor) -> Tensor:
    s = per_sample(s, x)
    return s * x + (1 - s) * grey(x)


def adjust_hue(x: Tensor, delta: Tensor) -> Tensor:
    hsv = rgb_to_hsv(x)
    h = (hsv[:, 0] + delta.view(-1, 1, 1).to(x.dtype)) % 1.0
    return hsv_to_rgb(torch.stack([h, hsv[:, 1], hsv[:, 2]], dim=1))


def erase(
    x: Tensor, top: Tensor, left: Tensor, height: Tensor, width: Tensor, value: float
) -> Tensor:
    """Set each sample's box (``(B,)`` integer corner and size) to ``value``."""
    box = box_mask(tuple(x.shape[-2:]), top, left, height, width)  # (B, 1, H, W)
    return torch.where(box, value, x)  # (half the time of an out-of-place masked_fill on CPU)


def linear_jitter(x: Tensor, b: Tensor, c: Tensor, s: Tensor | None) -> Tensor:
    """Brightness b, contrast c and saturation s (``(B,)`` each; s None: none) in one
    pass. Without clamping the three are linear maps that commute: in any order

        x ← s·c·b·x + (1 − s)·c·b·g(x) + (1 − c)·b·m·(s + (1 − s)·Σw)

    with m = mean(g(x)) over the image and Σw the sum of the grey weights (the grey
    level of a grey pixel is Σw times itself), so a sample's order of the three does
    not change its result, and two ``addcmul`` over the batch replace three passes.
    """
    g = grey(x)  # (B, 1, H, W)
    m = g.mean(dim=(1, 2, 3))  # (B,)
    if s is None or x.shape[1] == 1:  # no saturation (one channel is its own grey)
        s, grey_weight = torch.ones_like(b), 1.0
    else:
        grey_weight = sum(GREY)
    out = torch.addcmul(
        per_sample((1 - c) * b * m * (s + (1 - s) * grey_weight), x), per_sample(s * c * b, x), x
    )  # (B, C, H, W)
    if x.shape[1] > 1:
        out = out.addcmul_(per_sample((1 - s) * c * b, x), g)
    return out


def colour_jitter(
    x: Tensor, b: Tensor, c: Tensor, s: Tensor | None, h: Tensor, order: Tensor
) -> Tensor:
    """Brightness, contrast, saturation and hue with factors ``(B,)`` each, applied to
    each sample in its own order: ``order`` ``(B, 4)`` a permutation of (0 brightness,
    1 contrast, 2 saturation, 3 hue) per row, as torchvision draws one per call.

    Only where hue stands matters: brightness, contrast and saturation commute
    (:func:`linear_jitter`), and brightness commutes with hue too (a shift of hue
    keeps a pixel's grey offset and scale). So each sample is one linear step with
    the contrast and saturation that come before its hue, the hue shift, and one
    linear step with those that come after: two batched calls for any mix of orders.
    """
    place = order.argsort(dim=1)  # (B, 4): where each of the four stands
    before = place < place[:, 3:]  # (B, 4): whether it comes before the hue
    one = torch.ones_like(b)
    c_pre, c_post = torch.where(before[:, 1], c, one), torch.where(before[:, 1], one, c)
    if s is not None:
        s_pre, s_post = torch.where(before[:, 2], s, one), torch.where(before[:, 2], one, s)
    else:
        s_pre = s_post = None
    out = adjust_hue(linear_jitter(x, b, c_pre, s_pre), h)
    return linear_jitter(out, one, c_post, s_post)


@register_augment("color", kinds=("image",))
class ColorJitter(ImageTransform):
    """Brightness b ~ U[1 − brightness, 1 + brightness], contrast and saturation
    likewise, hue shift δ ~ U[−hue, hue], in a random order drawn for each sample
    (torchvision's ``ColorJitter`` draws one order per call)."""

    name = "color"
    raw_units = True

    def __init__(
        self,
        brightness: float = 0.3,
        contrast: float = 0.3,
        saturation: float = 0.0,
        hue: float = 0.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        for key, value in (("brightness", brightness), ("contrast", contrast)):
            if not 0 <= value <= 1:
                raise ValueError(f"augment color: {key} must be in [0, 1], got {value}")
        if not 0 <= saturation <= 1:
            raise ValueError(f"augment color: saturation must be in [0, 1], got {saturation}")
        if not 0 <= hue <= 0.5:
            raise ValueError(f"augment color: hue must be in [0, 0.5], got {hue}")
        self.brightness, self.contrast = float(brightness), float(contrast)
        self.saturation, self.hue = float(saturation), float(hue)

    def check(self, kind: str, shape: tuple[int, ...]) -> None:
        super().check(kind, shape)
        if shape[0] != 3 and (self.saturation or self.hue):
            raise AugmentError(
                f"augment color: saturation and hue need 3 colour channels, the images have "
                f"{shape[0]}; set augment.saturation=0 augment.hue=0 (brightness and "
                "contrast work on any image)"
            )

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        n, dev = x.shape[0], x.device

        def factor(strength: float) -> Tensor:  # U[1 − strength, 1 + strength], (B,)
            return uniform(generator, n, 1 - strength, 1 + strength, dev)

        b, c = factor(self.brightness), factor(self.contrast)
        s = factor(self.saturation) if self.saturation else None
        if not self.hue:  # the order of the other three does not matter: none is drawn
            return self.keep(linear_jitter(x, b, c, s), x, generator)
        h = uniform(generator, n, -self.hue, self.hue, dev)
        order = torch.rand(n, 4, generator=generator, device=dev).argsort(dim=1)  # (B, 4)
        return self.keep(colour_jitter(x, b, c, s, h, order), x, generator)


@register_augment("noise", kinds=("image",))
class GaussianNoise(ImageTransform):
    """x ← x + σ·ε with ε ~ N(0, 1) per pixel, σ in units of each channel's spread."""

    name = "noise"
    raw_units = False

    def __init__(self, sigma: float = 0.1, p: float = 1.0) -> None:
        super().__init__(p)
        if sigma < 0:
            raise ValueError(f"augment noise: sigma must be >= 0, got {sigma}")
        self.sigma = float(sigma)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return self.keep(gaussian_noise(x, self.sigma, generator), x, generator)


@register_augment("erasing", kinds=("image",))
class RandomErasing(ImageTransform):
    """With probability p, a box of area fraction ~ U[scale] and aspect ratio
    log-uniform in ``ratio`` is set to ``value`` (raw units: 0 is black)."""

    name = "erasing"
    raw_units = True

    def __init__(
        self,
        scale: Sequence[float] = (0.02, 0.2),
        ratio: Sequence[float] = (0.3, 3.3),
        value: float = 0.0,
        p: float = 0.5,
    ) -> None:
        super().__init__(p)
        self.scale = check_range("erasing", "scale", scale, low=0.0)
        if self.scale[1] > 1:
            raise ValueError(f"augment erasing: scale must be within [0, 1], got {scale}")
        self.ratio = check_range("erasing", "ratio", ratio, low=1e-3)
        self.value = float(value)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        n, dev = x.shape[0], x.device
        top, left, height, width = random_box(
            generator, n, tuple(x.shape[-2:]), self.scale, self.ratio, dev
        )
        height = height * chosen(generator, n, self.p, dev)  # an empty box: not erased
        return erase(x, top, left, height, width, self.value)
