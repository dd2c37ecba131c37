"""Geometric image transforms: random affine, random resized crop, horizontal flip.

Each one moves pixels: the output pixel at p reads the input at A⁻¹p for an affine
map A drawn per sample, so a whole batch is one grid of sampling coordinates
(built from the ``(B, 2, 3)`` maps) and one ``grid_sample`` with bilinear
interpolation and zero padding.
The map is torchvision's (``transforms.v2.functional.affine``, about the centre)

    A = T · C · R S Sh · C⁻¹,    R S Sh = s · [[cos θ, −sin θ], [sin θ, cos θ]] · Sh(φx, φy)

with θ the rotation, s the scale, φ the shear angles and T a translation by
(tx, ty) pixels (the sampling grid is built from A⁻¹ directly, see :func:`warp`);
the tests hold every transform equal to torchvision's for the same fixed
parameters. Geometric augmentation is the guide's "rotate, crop, flip,
zoom" (Simard, Steinkraus & Platt 2003 for distortions of handwritten digits;
Krizhevsky et al. 2012 for crops and flips); a horizontal flip changes a digit's
class (a mirrored 2 is no 2), so it is off in the presets for digits.

Shapes: images ``(B, C, H, W)`` in, the same out.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from augment.base import (
    AugmentError,
    Transform,
    check_range,
    chosen,
    expand,
    random_box,
    register_augment,
    uniform,
)


class ImageTransform(Transform):
    kinds = ("image",)

    def check(self, kind: str, shape: tuple[int, ...]) -> None:
        super().check(kind, shape)
        if len(shape) != 3 or min(shape[1:]) < 2:
            raise AugmentError(
                f"augment '{self.name}' needs images (C, H, W) of at least 2x2 pixels, "
                f"got inputs of shape {shape}"
            )


def inverse_affine(
    angle: Tensor, tx: Tensor, ty: Tensor, scale: Tensor, shear_x: Tensor, shear_y: Tensor
) -> Tensor:
    """A⁻¹ about the image centre, in pixels, for each sample: ``(B,)`` each -> ``(B, 2, 3)``.

    The same matrix as torchvision's ``_get_inverse_affine_matrix`` (angles in
    degrees, clockwise on screen since y points down), written for tensors.
    """
    rot, sx, sy = torch.deg2rad(angle), torch.deg2rad(shear_x), torch.deg2rad(shear_y)
    # R S Sh without the scale; its determinant is 1.
    a = torch.cos(rot - sy) / torch.cos(sy)
    b = -torch.cos(rot - sy) * torch.tan(sx) / torch.cos(sy) - torch.sin(rot)
    c = torch.sin(rot - sy) / torch.cos(sy)
    d = -torch.sin(rot - sy) * torch.tan(sx) / torch.cos(sy) + torch.cos(rot)
    m00, m01, m10, m11 = d / scale, -b / scale, -c / scale, a / scale  # (R S Sh)⁻¹
    m02 = -(m00 * tx + m01 * ty)  # then undo the translation: A⁻¹ = (R S Sh)⁻¹ T⁻¹
    m12 = -(m10 * tx + m11 * ty)
    return torch.stack([m00, m01, m02, m10, m11, m12], dim=1).view(-1, 2, 3)  # (B, 2, 3)


def warp(x: Tensor, inverse: Tensor) -> Tensor:
    """Resample a batch by per-sample inverse maps in centred pixel coordinates.

    Output pixel (i, j) has centred coordinates (u, v) = (j + ½ − W/2, i + ½ − H/2)
    and reads the input at A⁻¹(u, v), which ``grid_sample`` (align_corners=False)
    takes normalized by half the width and height:

        g_x = (2/W)·(m00·u + m01·v + m02),    g_y = (2/H)·(m10·u + m11·v + m12).

    That is what ``affine_grid`` computes, but as the sum of a per-column and a
    per-row term: a few operations on ``(B, H, W, 2)`` where ``affine_grid`` runs a
    batched matrix product over every pixel, which on a CPU took longer than the
    sampling itself.
    """
    _, _, h, w = x.shape
    m = inverse.to(x.dtype) * x.new_tensor([[2 / w], [2 / h]])  # (B, 2, 3), rows scaled
    u = torch.arange(w, dtype=x.dtype, device=x.device) + (0.5 - w / 2)  # (W,)
    v = torch.arange(h, dtype=x.dtype, device=x.device) + (0.5 - h / 2)  # (H,)
    by_column = m[:, :, 0, None] * u  # (B, 2, W): m·0 u
    by_row = m[:, :, 1, None] * v + m[:, :, 2, None]  # (B, 2, H): m·1 v + m·2
    grid = by_column.transpose(1, 2)[:, None] + by_row.transpose(1, 2)[:, :, None]  # (B, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@register_augment("affine", kinds=("image",))
class RandomAffine(ImageTransform):
    """Rotation θ ~ U[−degrees, degrees], translation (tx, ty) ~ U[−translate, translate]
    times the width and height, scale s ~ U[scale], shear φx ~ U[−shear, shear]:
    torchvision's ``RandomAffine``, with parameters drawn for each sample."""

    name = "affine"

    def __init__(
        self,
        degrees: float = 10.0,
        translate: float = 0.1,
        scale: Sequence[float] = (0.9, 1.1),
        shear: float = 0.0,
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        for key, value in (("degrees", degrees), ("shear", shear)):
            if not 0 <= value < 90:
                raise ValueError(f"augment affine: {key} must be in [0, 90), got {value}")
        if not 0 <= translate <= 1:
            raise ValueError(f"augment affine: translate must be in [0, 1], got {translate}")
        self.degrees, self.translate, self.shear = float(degrees), float(translate), float(shear)
        self.scale = check_range("affine", "scale", scale, low=1e-3)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        n, dev = x.shape[0], x.device
        h, w = x.shape[-2:]
        angle = uniform(generator, n, -self.degrees, self.degrees, dev)
        tx = uniform(generator, n, -self.translate, self.translate, dev) * w
        ty = uniform(generator, n, -self.translate, self.translate, dev) * h
        scale = uniform(generator, n, *self.scale, dev)
        shear = uniform(generator, n, -self.shear, self.shear, dev)
        out = warp(x, inverse_affine(angle, tx, ty, scale, shear, torch.zeros_like(shear)))
        return self.keep(out, x, generator)


def crop_grid(
    top: Tensor, left: Tensor, height: Tensor, width: Tensor, size: tuple[int, int]
) -> Tensor:
    """The ``grid_sample`` grid (align_corners=True) that resizes each sample's box
    (``(B,)`` integer corner and size) to ``size`` bilinearly, as ``F.interpolate``
    (align_corners=False) resizes a crop: output pixel j reads the box at
    (j + ½)·w/W − ½, clamped to the box. -> ``(B, H, W, 2)``."""
    h_out, w_out = size
    j = torch.arange(w_out, device=top.device, dtype=torch.float32) + 0.5  # (W,)
    i = torch.arange(h_out, device=top.device, dtype=torch.float32) + 0.5  # (H,)
    wf, hf = width.float()[:, None], height.float()[:, None]
    xs = left[:, None] + (j * wf / w_out - 0.5).clamp(min=0).minimum(wf - 1)  # (B, W)
    ys = top[:, None] + (i * hf / h_out - 0.5).clamp(min=0).minimum(hf - 1)  # (B, H)
    gx = (2 * xs / (w_out - 1) - 1)[:, None, :].expand(-1, h_out, -1)  # (B, W) -> (B, H, W)
    gy = (2 * ys / (h_out - 1) - 1)[:, :, None].expand(-1, -1, w_out)  # (B, H) -> (B, H, W)
    return torch.stack([gx, gy], dim=-1)  # (B, H, W, 2)


@register_augment("resized_crop", kinds=("image",))
class RandomResizedCrop(ImageTransform):
    """A box of area fraction a ~ U[scale] and aspect ratio r (log-uniform in
    ``ratio``) at a random place, resized back to the image's size: the zoom of
    torchvision's ``RandomResizedCrop`` (Szegedy et al. 2015), per sample."""

    name = "resized_crop"

    def __init__(
        self,
        scale: Sequence[float] = (0.6, 1.0),
        ratio: Sequence[float] = (0.75, 4 / 3),
        p: float = 1.0,
    ) -> None:
        super().__init__(p)
        self.scale = check_range("resized_crop", "scale", scale, low=1e-3)
        if self.scale[1] > 1:
            raise ValueError(f"augment resized_crop: scale must be within (0, 1], got {scale}")
        self.ratio = check_range("resized_crop", "ratio", ratio, low=1e-3)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        n, dev = x.shape[0], x.device
        h, w = x.shape[-2:]
        top, left, height, width = random_box(generator, n, (h, w), self.scale, self.ratio, dev)
        grid = crop_grid(top, left, height, width, (h, w)).to(x.dtype)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
        return self.keep(out, x, generator)


@register_augment("hflip", kinds=("image",))
class RandomHorizontalFlip(ImageTransform):
    """Mirror left-right with probability p (not for digits or text: it changes the class)."""

    name = "hflip"

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        flip = chosen(generator, x.shape[0], self.p, x.device)
        return torch.where(expand(flip, x), x.flip(-1), x)
