"""Argument checks every family shares: one line naming the bad value and what would work.

A model's ``__init__`` calls these before it builds anything, so a wrong option fails
at once, e.g. ``cnn pool must be one of max, avg, none; got 'min'``, instead of as a
shape error deep inside ``forward`` (nanoGPT's asserts and PyG's hints do the same).
``name`` is what the message calls the option, the model's name first: ``"cnn pool"``,
``"gan d_dropout"``; the losses and optimizers use the same checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from zoo.activations import make_activation

# How a layer computes, in every family, loss and optimizer: PyTorch's own kernels
# (fused, what training uses) or the from-scratch code written from the formula.
IMPLS = ("fused", "reference")
# Losses and optimizers called their fused path "torch" before; run directories saved
# then still say so, and are read as "fused".
FORMER_IMPLS = {"torch": "fused"}
NORMS = ("none", "batch")  # batch: BatchNorm between a layer and its activation
# Options renamed when every family came to call a stack's layer widths "widths" (the
# cnn's and the generative models' channels, the autoencoders' hidden_sizes): a config
# that still uses one is told the new name (here and by engine/cli.py).
RENAMED_OPTIONS = {"hidden_sizes": "widths", "channels": "widths"}


def check_choice(name: str, value: Any, options: Sequence[str]) -> None:
    """``value`` must be one of ``options``: "gan norm must be one of none, batch; got 'layer'"."""
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(options)}; got '{value}'")


def check_impl(name: str, impl: str) -> str:
    """:func:`check_choice` over :data:`IMPLS`; returns the current name of ``impl``
    (a former name such as ``"torch"`` is read as the one it became)."""
    impl = FORMER_IMPLS.get(impl, impl)
    check_choice(name, impl, IMPLS)
    return impl


def check_fraction(name: str, value: float) -> None:
    """A probability of dropping a unit (dropout): in [0, 1)."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


def check_at_least(name: str, value: float, minimum: float, note: str = "") -> None:
    """``value >= minimum``; ``note`` says what the boundary means ("(0 = linear)")."""
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}{f' {note}' if note else ''}, got {value}")


def check_positive(name: str, value: float) -> None:
    """``value > 0`` (a margin, a temperature, a width)."""
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def check_sizes(name: str, **sizes: int) -> None:
    """Every size the data gives a model is >= 1: "mlp needs in_features >= 1 and
    out_features >= 1, got 0 and 3"."""
    if min(sizes.values()) < 1:
        wanted = " and ".join(f"{k} >= 1" for k in sizes)
        got = " and ".join(str(v) for v in sizes.values())
        raise ValueError(f"{name} needs {wanted}, got {got}")


def check_widths(name: str, widths: Sequence[int], allow_empty: bool = False) -> list[int]:
    """A stack's layer widths, one entry per layer: ints >= 1, and at least one unless
    ``allow_empty``. Returns them as a list."""
    widths = list(widths)
    if (not widths and not allow_empty) or any(w < 1 for w in widths):
        some = "a list of ints >= 1" if allow_empty else "a non-empty list of ints >= 1"
        raise ValueError(f"{name} must be {some}, got {widths}")
    return widths


def check_image(name: str, shape: Sequence[int], hint: str = "") -> tuple[int, int, int]:
    """One sample's shape must be an image's, ``(C, H, W)``; returns it. ``hint`` says
    what reads other data ("use arch=mlp")."""
    shape = tuple(shape)
    if len(shape) != 3:
        raise ValueError(
            f"{name} reads images (C, H, W), not data of shape {shape}{f'; {hint}' if hint else ''}"
        )
    return shape[0], shape[1], shape[2]


def check_activation(name: str, kwargs: Mapping[str, Any] | None = None) -> None:
    """φ = ``name`` with its options ``kwargs`` must exist; the error lists the names
    (an unknown one) or says which option φ lacks."""
    make_activation(name, **dict(kwargs or {}))


def check_renamed(model: str, kwargs: Mapping[str, Any]) -> None:
    """An option passed under a name it had before (:data:`RENAMED_OPTIONS`): say the
    new one, in one line."""
    for old, new in RENAMED_OPTIONS.items():
        if old in kwargs:
            raise TypeError(f"{model} option '{old}' is now called '{new}' (model.{new}=...)")
