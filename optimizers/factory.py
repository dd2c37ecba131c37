"""Optimizers by short name, each in two implementations chosen with ``impl``.

    name      update (η lr, μ momentum, λ weight decay)       paper, file
    sgd       θ ← θ − η·g                                     sgd.py
    momentum  v ← μ·v + g,  θ ← θ − η·v                       Polyak 1964, sgd.py
    nesterov  v ← μ·v + g,  θ ← θ − η·(g + μ·v)               Sutskever et al. 2013, sgd.py
    adagrad   s ← s + g²,  θ ← θ − η·g/(√s + ε)               Duchi et al. 2011, adaptive.py
    adadelta  θ ← θ − η·(RMS of past Δθ / RMS of g)·g         Zeiler 2012, adaptive.py
    rmsprop   v ← α·v + (1 − α)·g²,  θ ← θ − η·g/(√v + ε)     Tieleman & Hinton 2012, adaptive.py
    adam      θ ← θ − η·m̂/(√v̂ + ε), bias-corrected averages  Kingma & Ba 2015, adam.py
    adamw     adam, plus θ ← θ·(1 − η·λ) instead of L2         Loshchilov & Hutter 2019, adam.py

The full rules, and why each exists, are in those files' docstrings. Except in
adamw, λ is an L2 term added to g.

``impl="fused"`` (the default) builds PyTorch's ``torch.optim`` class. Where the
class and the parameters allow it (floating point, on a device with the kernel) it
asks for the *fused* kernel, which updates every parameter in one kernel: on 2 CPU
cores (torch 2.14) a step of Adam/AdamW on an MLP took 2-2.5x less time than with
``foreach``, SGD up to 1.6x. Elsewhere (Adadelta, RMSprop, Adagrad on CUDA) it uses
``foreach``, which batches the per-tensor ops. ``impl="reference"`` builds the
from-scratch class: a readable Python loop over the parameters, slower, whose
trajectory the tests hold to within 1e-6 of PyTorch's. Both keep their state in
``state_dict()`` as tensors and numbers, so either resumes exactly. The values are the
zoo's and the losses' (:data:`zoo.checks.IMPLS`); the former ``"torch"`` still reads
as ``"fused"``.

Where it continues: engine/run.py builds one optimizer (and schedule) per part a task
trains (``optim``, and ``optim_d`` for a GAN's discriminator); engine/trainer.py steps
them and keeps their state in its checkpoints, so a run resumes exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from numbers import Real
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from optimizers import adam as adam_
from optimizers import adaptive
from optimizers import sgd as sgd_
from zoo.checks import check_impl
from zoo.registry import Registry

OPTIMIZERS = Registry("optimizer")

# Devices with a fused kernel for every floating dtype (checked on torch 2.14).
_FUSED_DEVICES: dict[type[Optimizer], tuple[str, ...]] = {
    torch.optim.SGD: ("cpu", "cuda"),
    torch.optim.Adam: ("cpu", "cuda"),
    torch.optim.AdamW: ("cpu", "cuda"),
    torch.optim.Adagrad: ("cpu",),
}

Params = Iterable[Any]  # tensors, (name, tensor) pairs, or param-group dicts
Builder = Callable[..., Optimizer]


def register_optimizer(name: str) -> Callable[[Builder], Builder]:
    """Decorator for ``build(params, **hyperparameters, impl) -> torch.optim.Optimizer``."""
    return OPTIMIZERS.register(name)


def create_optimizer(name: str, params: Params, **kwargs: Any) -> Optimizer:
    """Build optimizer ``name`` over ``params`` (e.g. ``model.parameters()``)."""
    return OPTIMIZERS.get(name)(params, **kwargs)


def list_optimizers() -> list[str]:
    return OPTIMIZERS.names()


# ----------------------------------------------------------------------------- helpers


def _tensors(params: list[Any]) -> Iterator[Tensor]:
    for item in params:
        if isinstance(item, dict):
            group = item["params"]
            yield from _tensors([group] if isinstance(group, Tensor) else list(group))
        elif isinstance(item, tuple):  # named parameter
            yield item[1]
        else:
            yield item


def _kernel(cls: type[Optimizer], params: list[Any]) -> dict[str, bool]:
    devices = _FUSED_DEVICES.get(cls, ())
    fusable = all(p.is_floating_point() and p.device.type in devices for p in _tensors(params))
    return {"fused": True} if fusable else {"foreach": True}


def _build(
    impl: str, torch_cls: type[Optimizer], reference_cls: type[Optimizer], params: Params, **hp
) -> Optimizer:
    """``torch_cls`` with its fastest kernel, or the from-scratch ``reference_cls``."""
    params = list(params)
    if check_impl("optim.impl", impl) == "reference":
        return reference_cls(params, **hp)
    return torch_cls(params, **hp, **_kernel(torch_cls, params))


def _check(
    name: str, value: Any, low: float, *, low_inclusive: bool, high: float | None = None
) -> None:
    """Raise ``ValueError("optim.<name> must be ...")`` naming the bad value."""
    if not isinstance(value, Real) or isinstance(value, bool):
        raise TypeError(f"optim.{name} must be a number, got {value!r}")
    ok_low = value >= low if low_inclusive else value > low
    if not ok_low or (high is not None and not value < high):
        bound = f"{'>=' if low_inclusive else '>'} {low:g}"
        if high is not None:
            bound = f"in {'[' if low_inclusive else '('}{low:g}, {high:g})"
        raise ValueError(f"optim.{name} must be {bound}, got {value}")


def _common(lr: float, weight_decay: float, eps: float | None = None) -> dict[str, float]:
    _check("lr", lr, 0.0, low_inclusive=False)
    _check("weight_decay", weight_decay, 0.0, low_inclusive=True)
    if eps is None:
        return {"lr": lr, "weight_decay": weight_decay}
    _check("eps", eps, 0.0, low_inclusive=False)
    return {"lr": lr, "weight_decay": weight_decay, "eps": eps}


def _decay(name: str, value: float) -> float:
    """A decay rate of an average (μ, α, ρ, β): in [0, 1)."""
    _check(name, value, 0.0, low_inclusive=True, high=1.0)
    return value


def _betas(betas: Iterable[float]) -> tuple[float, float]:
    betas = tuple(betas)  # YAML gives a list; torch.optim expects a tuple
    if len(betas) != 2:
        raise ValueError(f"optim.betas must be two numbers, got {list(betas)}")
    return _decay("betas[0]", betas[0]), _decay("betas[1]", betas[1])


# ---------------------------------------------------------------------------- builders


@register_optimizer("sgd")
def sgd(
    params: Params,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    impl: str = "fused",
) -> Optimizer:
    """SGD; no default ``lr``, because a good one depends entirely on the problem."""
    hp = _common(lr, weight_decay)
    if nesterov and momentum <= 0:
        raise ValueError(f"optim.nesterov needs optim.momentum > 0, got {momentum}")
    momentum = _decay("momentum", momentum)
    return _build(
        impl, torch.optim.SGD, sgd_.SGD, params, momentum=momentum, nesterov=nesterov, **hp
    )


@register_optimizer("momentum")
def momentum(
    params: Params,
    lr: float,
    momentum: float = 0.9,  # velocity up to 10x the gradient (1 / (1 − μ))
    weight_decay: float = 0.0,
    impl: str = "fused",
) -> Optimizer:
    """SGD with Polyak's heavy-ball momentum."""
    _check("momentum", momentum, 0.0, low_inclusive=False, high=1.0)
    return sgd(params, lr, momentum, weight_decay, nesterov=False, impl=impl)


@register_optimizer("nesterov")
def nesterov(
    params: Params,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    impl: str = "fused",
) -> Optimizer:
    """SGD with Nesterov momentum (Sutskever et al.'s form)."""
    _check("momentum", momentum, 0.0, low_inclusive=False, high=1.0)
    return sgd(params, lr, momentum, weight_decay, nesterov=True, impl=impl)


@register_optimizer("adagrad")
def adagrad(
    params: Params,
    lr: float = 1e-2,
    eps: float = 1e-10,  # torch.optim.Adagrad's: only guards the first step's 0/0
    weight_decay: float = 0.0,
    impl: str = "fused",
) -> Optimizer:
    hp = _common(lr, weight_decay, eps)
    return _build(impl, torch.optim.Adagrad, adaptive.Adagrad, params, **hp)


@register_optimizer("adadelta")
def adadelta(
    params: Params,
    lr: float = 1.0,  # Zeiler's Adadelta has no η at all, i.e. η = 1
    rho: float = 0.9,
    eps: float = 1e-6,  # also the first step's size: √ε / √(v + ε)·g
    weight_decay: float = 0.0,
    impl: str = "fused",
) -> Optimizer:
    hp = _common(lr, weight_decay, eps)
    rho = _decay("rho", rho)
    return _build(impl, torch.optim.Adadelta, adaptive.Adadelta, params, rho=rho, **hp)


@register_optimizer("rmsprop")
def rmsprop(
    params: Params,
    lr: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    impl: str = "fused",
) -> Optimizer:
    hp = _common(lr, weight_decay, eps)
    alpha = _decay("alpha", alpha)
    return _build(impl, torch.optim.RMSprop, adaptive.RMSprop, params, alpha=alpha, **hp)


@register_optimizer("adam")
def adam(
    params: Params,
    lr: float = 1e-3,
    betas: Iterable[float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    impl: str = "fused",
) -> Optimizer:
    hp = _common(lr, weight_decay, eps)
    return _build(impl, torch.optim.Adam, adam_.Adam, params, betas=_betas(betas), **hp)


@register_optimizer("adamw")
def adamw(
    params: Params,
    lr: float = 1e-3,
    betas: Iterable[float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.01,
    impl: str = "fused",
) -> Optimizer:
    hp = _common(lr, weight_decay, eps)
    return _build(impl, torch.optim.AdamW, adam_.AdamW, params, betas=_betas(betas), **hp)
