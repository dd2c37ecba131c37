"""Named presets: several transforms composed, chosen by the kind of input.

    light    images: a small random affine (±10°, ±10% shift, 0.9-1.1 zoom)
             signals: jitter and scaling
    strong   images: a larger affine with shear, brightness and contrast (and
             saturation on colour images), random erasing
             signals: jitter, scaling, time warp and crop-and-resize

Neither flips images: a mirrored digit or letter is another class (or none), so a
flip is asked for by name where it keeps the class (``augment.hflip=true`` on
photographs such as CIFAR-10). The strengths follow the common choices for small
images (RandAugment's "light" magnitudes; Um et al. 2017 for signals).
"""

from __future__ import annotations

from typing import Any

from augment.base import register_augment

Recipe = list[tuple[str, dict[str, Any]]]


@register_augment("light", kinds=("image", "sequence"))
def light(kind: str, shape: tuple[int, ...], hflip: bool = False) -> Recipe:
    """Preset: a small affine (images); jitter and scaling (sequences)."""
    if kind == "sequence":
        return [("jitter", {"sigma": 0.03}), ("scaling", {"sigma": 0.1})]
    recipe: Recipe = [("affine", {"degrees": 10, "translate": 0.1, "scale": (0.9, 1.1)})]
    return recipe + [("hflip", {})] * hflip


@register_augment("strong", kinds=("image", "sequence"))
def strong(kind: str, shape: tuple[int, ...], hflip: bool = False) -> Recipe:
    """Preset: affine with shear, brightness and contrast, erasing (images); jitter,
    scaling, time warp and crop-and-resize (sequences)."""
    if kind == "sequence":
        return [
            ("jitter", {"sigma": 0.05}),
            ("scaling", {"sigma": 0.2}),
            ("time_warp", {"sigma": 0.2}),
            ("crop_resize", {"ratio": 0.9}),
        ]
    colour = {"saturation": 0.3} if shape[0] == 3 else {}
    return [
        ("affine", {"degrees": 15, "translate": 0.125, "scale": (0.85, 1.15), "shear": 10}),
        *[("hflip", {})] * hflip,
        ("color", {"brightness": 0.3, "contrast": 0.3, **colour}),
        ("erasing", {"scale": (0.02, 0.2), "p": 0.5}),
    ]
