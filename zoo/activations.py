"""Activation functions by short name, so configs can write ``activation: gelu``.

Without a nonlinearity between them, stacked linear layers collapse into one linear
map (W2 (W1 x) = (W2 W1) x); the activation is what lets depth add expressive power.
The formulas, for reference (all element-wise):

    relu(x)        = max(0, x)                         (Nair & Hinton, 2010)
    leaky_relu(x)  = x if x > 0 else a·x, a = 0.01     (Maas et al., 2013)
    elu(x)         = x if x > 0 else α(eˣ − 1), α = 1  (Clevert et al., 2016)
    gelu(x)        = x·Φ(x), Φ the standard normal CDF (Hendrycks & Gimpel, 2016)
    silu(x)        = x·σ(x)                            (Elfwing et al., 2018)
    sigmoid(x)     = σ(x) = 1 / (1 + e⁻ˣ)
    tanh(x)        = (eˣ − e⁻ˣ) / (eˣ + e⁻ˣ)
    identity(x)    = x

They are PyTorch's own modules: a one-line element-wise formula gains nothing from
being rewritten, and the fused kernels are faster.
"""

from __future__ import annotations

from torch import nn

from zoo.registry import Registry

ACTIVATIONS = Registry("activation")

for _name, _cls in {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}.items():
    ACTIVATIONS.register(_name)(_cls)


def make_activation(name: str) -> nn.Module:
    """A fresh activation module (modules are cheap; sharing one instance would be fine too)."""
    return ACTIVATIONS.get(name)()


def list_activations() -> list[str]:
    return ACTIVATIONS.names()
