"""Activation functions by short name, so configs can write ``activation: gelu``.

Without a nonlinearity between them, stacked linear layers collapse into one linear
map (W2 (W1 x) = (W2 W1) x); the activation is what lets depth add expressive power.
The formulas, for reference (all element-wise):

    relu(x)        = max(0, x)                         (Nair & Hinton, 2010)
    leaky_relu(x)  = x if x > 0 else a·x, a = 0.01     (Maas et al., 2013)
    prelu(x)       = x if x > 0 else a·x, a learned    (He et al., 2015; a starts at 0.25)
    elu(x)         = x if x > 0 else α(eˣ − 1), α = 1  (Clevert et al., 2016)
    gelu(x)        = x·Φ(x), Φ the standard normal CDF (Hendrycks & Gimpel, 2016)
    silu(x)        = x·σ(x)                            (Elfwing et al., 2018)
    sigmoid(x)     = σ(x) = 1 / (1 + e⁻ˣ)
    tanh(x)        = (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ)
    identity(x)    = x

They are PyTorch's own modules: a one-line element-wise formula gains nothing from
being rewritten, and the fused kernels are faster. Their own parameters pass through
by keyword, with PyTorch's names: ``negative_slope`` (leaky_relu), ``alpha`` (elu),
``num_parameters`` and ``init`` (prelu), ``approximate`` (gelu). prelu is the one with
a learnable parameter, so each call builds a fresh module: sharing one instance
across layers would tie their slopes together.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from zoo.registry import Registry

ACTIVATIONS = Registry("activation")

# name -> (module, the constructor options a config may set). ``inplace`` is left out
# on purpose: overwriting the input would break an autograd graph that still needs it.
for _name, (_cls, _options) in {
    "relu": (nn.ReLU, ()),
    "leaky_relu": (nn.LeakyReLU, ("negative_slope",)),
    "prelu": (nn.PReLU, ("num_parameters", "init")),
    "elu": (nn.ELU, ("alpha",)),
    "gelu": (nn.GELU, ("approximate",)),
    "silu": (nn.SiLU, ()),
    "sigmoid": (nn.Sigmoid, ()),
    "tanh": (nn.Tanh, ()),
    "identity": (nn.Identity, ()),
}.items():
    ACTIVATIONS.register(_name, options=_options)(_cls)


def make_activation(name: str, **kwargs: Any) -> nn.Module:
    """A fresh activation module; ``kwargs`` go to its constructor (``negative_slope=0.2``).

    Sigmoid, Tanh and Identity would silently swallow any keyword, so the options are
    checked here: one that ``name`` does not take is a ``TypeError`` naming it.
    """
    entry = ACTIVATIONS.entry(name)
    options: tuple[str, ...] = entry.meta["options"]
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        takes = f"it takes {', '.join(options)}" if options else "it takes none"
        raise TypeError(f"activation '{name}' has no option {', '.join(unknown)}; {takes}")
    return entry.obj(**kwargs)


def list_activations() -> list[str]:
    return ACTIVATIONS.names()
