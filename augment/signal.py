"""Transforms of 1-D signals and sequences: jitter, scaling, shift, time warp, crop.

The augmentations of time series of Um et al. 2017 ("Data augmentation of wearable
sensor data for Parkinson's disease monitoring using convolutional neural
networks") and Le Guennec et al. 2016 ("Data augmentation for time series
classification using convolutional neural networks", window slicing), for a batch
``x`` of B sequences of T steps and F features, each with its own parameters:

    jitter        x ← x + σ·ε,                 ε ~ N(0, 1) per step and feature
    scaling       x ← s·x,                     s ~ N(1, σ²) per sample and feature
    shift         x_t ← x_{(t − k) mod T},     k ~ U{−max_shift·T, ..., max_shift·T}
    time_warp     x_t ← x(τ(t)),  τ monotone: the running sum of speeds v ~ N(1, σ²)
                  drawn at ``knots`` points and interpolated, rescaled onto [0, T − 1]
    crop_resize   x_t ← x(a + t·(L − 1)/(T − 1)),  a window of L = ⌈ratio·T⌉ steps
                  at a random start a, stretched back to T steps

x(τ) at a fractional step τ is the linear interpolation of its two neighbours, so
time warp and crop are one ``gather`` of the batch each. The data are in their
scaled units (zero mean, unit spread per feature), so σ is a fraction of a
feature's spread.

Padded sequences of different lengths (``lengths`` ``(B,)``, padding at the end)
are transformed within their valid steps: each sample's T above is its own length
L, so a shift rolls the first L steps, a time warp or crop maps [0, L − 1] onto
itself and never reads the padding, jitter touches valid steps only, and the
padding (t ≥ L) stays zero. Without ``lengths`` every sample is T steps long.

Shapes: sequences ``(B, T, F)`` (and ``lengths`` ``(B,)``) in, ``(B, T, F)`` out.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from augment.base import AugmentError, Transform, gaussian_noise, register_augment


class SignalTransform(Transform):
    """A transform of sequences, padded ones too: ``apply(x, generator, lengths)``
    with ``lengths`` ``(B,)`` the valid steps of each sample (all T when not padded)."""

    kinds = ("sequence",)
    raw_units = False

    def __call__(
        self, x: Tensor, generator: torch.Generator, lengths: Tensor | None = None
    ) -> Tensor:
        if lengths is None:
            return self.apply(x, generator, torch.full((x.shape[0],), x.shape[1], device=x.device))
        return self.apply(x, generator, lengths.to(x.device)) * valid(x, lengths)

    def apply(self, x: Tensor, generator: torch.Generator, lengths: Tensor) -> Tensor:
        raise NotImplementedError

    def check(self, kind: str, shape: tuple[int, ...]) -> None:
        super().check(kind, shape)
        if len(shape) != 2 or shape[0] < 2:
            raise AugmentError(
                f"augment '{self.name}' needs sequences (T, F) of at least 2 steps, "
                f"got inputs of shape {shape}"
            )


def valid(x: Tensor, lengths: Tensor) -> Tensor:
    """Whether step t of each sample is a valid one (t < L): ``(B, T, 1)`` in x's dtype."""
    steps = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, T)
    return (steps < lengths.to(x.device)[:, None]).unsqueeze(-1).to(x.dtype)


def positions(lengths: Tensor, t: int, dtype: torch.dtype) -> Tensor:
    """Output step t of each sample as a fraction of its valid span, t / (L − 1),
    clamped to [0, 1] on the padding: ``(B,)`` -> ``(B, T)``."""
    steps = torch.arange(t, device=lengths.device, dtype=dtype)[None, :]  # (1, T)
    span = (lengths.to(dtype) - 1).clamp(min=1)[:, None]  # (B, 1)
    return (steps / span).clamp(max=1)


def sample_at(x: Tensor, tau: Tensor) -> Tensor:
    """x at fractional steps by linear interpolation: ``(B, T, F)``, ``tau`` ``(B, T')``
    within [0, T − 1] -> ``(B, T', F)``."""
    t = x.shape[1]
    lo = tau.floor().clamp(0, t - 1)
    frac = (tau - lo).unsqueeze(-1).to(x.dtype)  # (B, T', 1)
    lo = lo.long()
    hi = (lo + 1).clamp(max=t - 1)
    features = x.shape[2]
    left = x.gather(1, lo.unsqueeze(-1).expand(-1, -1, features))  # (B, T', F)
    right = x.gather(1, hi.unsqueeze(-1).expand(-1, -1, features))
    return left + frac * (right - left)


@register_augment("jitter", kinds=("sequence",))
class Jitter(SignalTransform):
    """Additive Gaussian noise, x ← x + σ·ε."""

    name = "jitter"

    def __init__(self, sigma: float = 0.05, p: float = 1.0) -> None:
        super().__init__(p)
        if sigma < 0:
            raise ValueError(f"augment jitter: sigma must be >= 0, got {sigma}")
        self.sigma = float(sigma)

    def apply(self, x: Tensor, generator: torch.Generator, lengths: Tensor) -> Tensor:
        return self.keep(gaussian_noise(x, self.sigma, generator), x, generator)


@register_augment("scaling", kinds=("sequence",))
class Scaling(SignalTransform):
    """Each sample's features multiplied by s ~ N(1, σ²)."""

    name = "scaling"

    def __init__(self, sigma: float = 0.1, p: float = 1.0) -> None:
        super().__init__(p)
        if sigma < 0:
            raise ValueError(f"augment scaling: sigma must be >= 0, got {sigma}")
        self.sigma = float(sigma)

    def apply(self, x: Tensor, generator: torch.Generator, lengths: Tensor) -> Tensor:
        b, _, f = x.shape
        s = 1 + self.sigma * torch.randn(b, 1, f, generator=generator, device=x.device)
        return self.keep(x * s.to(x.dtype), x, generator)


@register_augment("shift", kinds=("sequence",))
class CircularShift(SignalTransform):
    """Roll each sequence by k ~ U{−⌊max_shift·L⌋, ..., ⌊max_shift·L⌋} steps (what
    leaves the end comes back at the start): ``torch.roll`` with a shift per sample,
    of the first L (valid) steps."""

    name = "shift"

    def __init__(self, max_shift: float = 0.1, p: float = 1.0) -> None:
        super().__init__(p)
        if not 0 <= max_shift <= 1:
            raise ValueError(f"augment shift: max_shift must be in [0, 1], got {max_shift}")
        self.max_shift = float(max_shift)

    def apply(self, x: Tensor, generator: torch.Generator, lengths: Tensor) -> Tensor:
        b, t, f = x.shape
        most = torch.floor(self.max_shift * lengths)  # (B,)
        u = torch.rand(b, generator=generator, device=x.device)
        k = (torch.floor(u * (2 * most + 1)) - most).long()[:, None]  # (B, 1), uniform
        steps = torch.arange(t, device=x.device)[None, :]  # (1, T)
        source = (steps - k).remainder(lengths[:, None])  # (B, T): x_t comes from t − k
        return self.keep(x.gather(1, source.unsqueeze(-1).expand(-1, -1, f)), x, generator)


@register_augment("time_warp", kinds=("sequence",))
class TimeWarp(SignalTransform):
    """Speed the sequence up and down smoothly: a monotone map τ of [0, L − 1] onto
    itself, the running sum of speeds drawn at ``knots`` points."""

    name = "time_warp"

    def __init__(self, sigma: float = 0.2, knots: int = 4, p: float = 1.0) -> None:
        super().__init__(p)
        if not 0 <= sigma < 1:
            raise ValueError(f"augment time_warp: sigma must be in [0, 1), got {sigma}")
        if knots < 1:
            raise ValueError(f"augment time_warp: knots must be >= 1, got {knots}")
        self.sigma, self.knots = float(sigma), int(knots)

    def apply(self, x: Tensor, generator: torch.Generator, lengths: Tensor) -> Tensor:
        b, t, _ = x.shape
        speeds = 1 + self.sigma * torch.randn(
            b, 1, self.knots + 2, generator=generator, device=x.device
        )
        speeds = speeds.clamp(min=0.1)  # keep τ strictly increasing
        speed = F.interpolate(speeds, size=t - 1, mode="linear", align_corners=True)[:, 0]
        warp = F.pad(speed.cumsum(dim=1), (1, 0))  # (B, T): increasing from 0
        warp = (warp / warp[:, -1:]).unsqueeze(-1)  # (B, T, 1): [0, 1] onto [0, 1]
        # Each sample's output step t, at t / (L − 1) of the way, reads the warp there.
        at = positions(lengths, t, warp.dtype) * (t - 1)  # (B, T), in the warp's steps
        tau = sample_at(warp, at)[..., 0] * (lengths[:, None] - 1)  # (B, T) in [0, L − 1]
        return self.keep(sample_at(x, tau), x, generator)


@register_augment("crop_resize", kinds=("sequence",))
class CropResize(SignalTransform):
    """A window of ⌈ratio·L⌉ steps at a random start, stretched back to L steps
    (Le Guennec et al.'s window slicing)."""

    name = "crop_resize"

    def __init__(self, ratio: float = 0.9, p: float = 1.0) -> None:
        super().__init__(p)
        if not 0 < ratio <= 1:
            raise ValueError(f"augment crop_resize: ratio must be in (0, 1], got {ratio}")
        self.ratio = float(ratio)

    def apply(self, x: Tensor, generator: torch.Generator, lengths: Tensor) -> Tensor:
        b, t, _ = x.shape
        span = lengths.to(torch.float32)  # (B,): L
        window = torch.ceil(self.ratio * span).clamp(min=2).minimum(span)  # (B,)
        start = torch.floor(
            torch.rand(b, generator=generator, device=x.device) * (span - window + 1)
        )
        at = positions(lengths, t, torch.float32) * (window - 1)[:, None]  # (B, T)
        return self.keep(sample_at(x, start[:, None] + at), x, generator)
