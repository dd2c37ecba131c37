"""Weight initialization schemes, each written from its formula.

Why it matters: with all weights equal, every unit of a layer computes the same thing
and receives the same gradient, so they stay identical forever (the symmetry is never
broken). Random weights break it, and their *scale* decides whether activations and
gradients keep a steady size through depth or shrink/grow layer after layer.

For a weight W with fan_in inputs and fan_out outputs per unit:

    xavier_uniform  W ~ U(−a, a),  a = √(6 / (fan_in + fan_out))     Glorot & Bengio, 2010
    xavier_normal   W ~ N(0, σ²),  σ² = 2 / (fan_in + fan_out)        (keeps variance for tanh)
    he_uniform      W ~ U(−a, a),  a = √(6 / fan_in)                  He et al., 2015
    he_normal       W ~ N(0, σ²),  σ² = 2 / fan_in                    (ReLU halves the variance)
    orthogonal      W = Q, Q from the QR decomposition of a Gaussian  Saxe et al., 2014
    normal          W ~ N(0, std²), std = 0.01 by default
    zeros           W = 0   (only sensible without hidden layers: see the symmetry above)
    default         PyTorch's own per-layer init, left untouched

Xavier balances Var(W) between the forward (fan_in) and backward (fan_out) passes:
n·Var(W) = 1 for both cannot hold at once, so it uses n = (fan_in + fan_out)/2. He
sets fan_in·Var(W) = 2 because ReLU zeroes half of its inputs. The uniform forms have
the same variance as the normal ones, since Var(U(−a, a)) = a²/3.

A scheme touches the weight of every Linear, Conv1d/2d/3d and ConvTranspose1d/2d/3d
layer and zeroes its bias; normalization layers keep their γ = 1, β = 0.

Where it continues: engine/run.py applies the configured one (``init=``) to every model
it builds, before training.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from zoo.checks import check_at_least
from zoo.registry import Registry

INITIALIZERS = Registry("initializer")

_DENSE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)

Init = Callable[..., None]


def fans(layer: nn.Module) -> tuple[int, int]:
    """(fan_in, fan_out): how many inputs feed one output unit, and vice versa.

    Linear ``(out, in)``: in and out. Conv ``(out, in/groups, *k)``: each output sees
    (in/groups)·prod(k) inputs. A transposed conv stores ``(in, out/groups, *k)``, the
    other way round, so its fans swap roles (``torch.nn.init`` ignores that and
    would read out/groups as fan_in). For strided convs the kernel-size count is the
    usual convention, as in the papers.
    """
    weight = layer.weight
    receptive = math.prod(weight.shape[2:])  # 1 for Linear
    if isinstance(layer, _TRANSPOSED):
        groups = layer.groups
        return weight.shape[0] // groups * receptive, weight.shape[1] * receptive
    groups = getattr(layer, "groups", 1)
    return weight.shape[1] * receptive, weight.shape[0] // groups * receptive


def register_initializer(name: str, **meta: Any) -> Callable[[Init], Init]:
    """Decorator for ``init(weight, fan_in, fan_out, generator, **kwargs)`` (in place)."""
    return INITIALIZERS.register(name, **meta)


@register_initializer("default", keeps_pytorch_init=True)
def default(weight: Tensor, fan_in: int, fan_out: int, generator: torch.Generator | None) -> None:
    """Leave PyTorch's init: Linear/Conv use U(±1/√fan_in) for both weight and bias."""


@register_initializer("zeros")
def zeros(weight: Tensor, fan_in: int, fan_out: int, generator: torch.Generator | None) -> None:
    weight.zero_()


@register_initializer("normal")
def normal(
    weight: Tensor,
    fan_in: int,
    fan_out: int,
    generator: torch.Generator | None,
    std: float = 0.01,
) -> None:
    check_at_least("initializer 'normal' std", std, 0)
    weight.normal_(0.0, std, generator=generator)


@register_initializer("xavier_uniform")
def xavier_uniform(
    weight: Tensor, fan_in: int, fan_out: int, generator: torch.Generator | None
) -> None:
    a = math.sqrt(6.0 / (fan_in + fan_out))
    weight.uniform_(-a, a, generator=generator)


@register_initializer("xavier_normal")
def xavier_normal(
    weight: Tensor, fan_in: int, fan_out: int, generator: torch.Generator | None
) -> None:
    sigma = math.sqrt(2.0 / (fan_in + fan_out))
    weight.normal_(0.0, sigma, generator=generator)


@register_initializer("he_uniform")
def he_uniform(
    weight: Tensor, fan_in: int, fan_out: int, generator: torch.Generator | None
) -> None:
    a = math.sqrt(6.0 / fan_in)
    weight.uniform_(-a, a, generator=generator)


@register_initializer("he_normal")
def he_normal(weight: Tensor, fan_in: int, fan_out: int, generator: torch.Generator | None) -> None:
    sigma = math.sqrt(2.0 / fan_in)
    weight.normal_(0.0, sigma, generator=generator)


@register_initializer("orthogonal")
def orthogonal(
    weight: Tensor,
    fan_in: int,
    fan_out: int,
    generator: torch.Generator | None,
    gain: float = 1.0,
) -> None:
    """W = gain·Q with orthonormal rows (or columns, whichever are fewer).

    Orthogonal W preserves the norm of every vector it maps (all singular values are
    1), so signals neither grow nor decay through a deep linear stack (Saxe et al.,
    2014). Q comes from A = QR with A Gaussian; multiplying Q's columns by sign(diag R)
    makes the result uniformly (Haar) distributed (Mezzadri, 2007), rather than
    depending on the QR routine's sign convention.
    """
    rows = weight.shape[0]
    cols = weight.numel() // rows  # conv kernels are flattened to (out, in·k)
    dtype = torch.promote_types(weight.dtype, torch.float32)  # QR needs at least float32
    a = torch.randn(
        max(rows, cols), min(rows, cols), generator=generator, dtype=dtype, device=weight.device
    )
    q, r = torch.linalg.qr(a)  # q: (max, min), orthonormal columns
    q = q * torch.sign(torch.diagonal(r))  # fix column signs: Haar-distributed q
    if rows < cols:
        q = q.T  # (rows, cols) with orthonormal rows: W Wᵀ = I
    weight.copy_(gain * q.reshape(weight.shape))


def apply_initializer(
    model: nn.Module,
    name: str,
    generator: torch.Generator | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Re-initialize ``model`` in place with scheme ``name`` and return it.

    Pass a seeded ``generator`` to make the weights reproducible independently of the
    global RNG (e.g. of how many random numbers data loading drew).
    """
    entry = INITIALIZERS.entry(name)
    if entry.meta.get("keeps_pytorch_init"):
        if kwargs:
            raise TypeError(f"initializer '{name}' takes no arguments, got {sorted(kwargs)}")
        return model
    init: Init = entry.obj
    layers = _DENSE + _TRANSPOSED
    pyg = sys.modules.get("torch_geometric.nn.dense.linear")
    if pyg is not None:  # PyG's layers hold their weights in its own Linear, (out, in) too
        layers += (pyg.Linear,)
    with torch.no_grad():
        for layer in model.modules():
            if not isinstance(layer, layers):
                continue
            fan_in, fan_out = fans(layer)
            init(layer.weight, fan_in, fan_out, generator, **kwargs)
            if layer.bias is not None:
                layer.bias.zero_()
    return model


def list_initializers() -> list[str]:
    return INITIALIZERS.names()
