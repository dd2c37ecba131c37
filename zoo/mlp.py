"""Multilayer perceptron: perceptrons stacked in fully connected layers.

Each hidden layer ℓ = 1..L maps h⁽ℓ⁻¹⁾ (with h⁽⁰⁾ = x, flattened) to

    h⁽ℓ⁾ = dropout(φ(norm(W⁽ℓ⁾ h⁽ℓ⁻¹⁾ + b⁽ℓ⁾)))

and a linear head gives the logits z = W⁽ᴸ⁺¹⁾ h⁽ᴸ⁾ + b⁽ᴸ⁺¹⁾. One hidden layer with a
nonlinear φ is already a universal approximator (Cybenko, 1989; Hornik, 1991); more
layers reach the same functions with fewer units. With L = 0 the MLP is a linear model
(the perceptron's z = w·x + b). Reference: Goodfellow, Bengio & Courville, *Deep
Learning* (2016), ch. 6.

* ``norm="batch"``: batch normalization (Ioffe & Szegedy, 2015) standardizes each
  unit's pre-activation over the mini-batch, then rescales it by a learned γ, β. It
  sits between the linear map and φ, as in the paper, so φ sees inputs of a steady
  scale (sigmoid/tanh stay out of saturation).
* ``dropout=p``: during training each hidden unit is zeroed with probability p and
  the survivors scaled by 1/(1 − p) (Srivastava et al., 2014), so no unit can rely on
  a particular other one; at eval time it is the identity.

Where it continues: the training step (forward, loss, backward, one optimizer step) is
the default of :class:`engine.tasks.core.Task`, run by engine/trainer.py;
:func:`dense_block` also builds the generative models' dense stacks
(zoo/generative_blocks.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from zoo.activations import make_activation
from zoo.checks import (
    NORMS,
    check_activation,
    check_at_least,
    check_choice,
    check_fraction,
    check_sizes,
)
from zoo.factory import register_model
from zoo.spec import DataSpec


def dense_block(
    in_features: int,
    out_features: int,
    activation: str,
    activation_kwargs: Mapping[str, Any] | None,
    norm: str,
    dropout: float = 0.0,
) -> nn.Sequential:
    """One hidden layer: Linear -> [BatchNorm1d] -> φ -> [Dropout], ``(B, in) -> (B, out)``
    (the MLP's, and the generative models' dense stacks)."""
    # BatchNorm's shift β replaces a bias before it (Ioffe & Szegedy, 2015, sec. 3.2).
    layers: list[nn.Module] = [nn.Linear(in_features, out_features, bias=norm != "batch")]
    if norm == "batch":
        layers.append(nn.BatchNorm1d(out_features))
    layers.append(make_activation(activation, **dict(activation_kwargs or {})))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class MLP(nn.Module):
    """Fully connected network over the flattened input; returns logits.

    Args:
        in_features: F, the size of one flattened sample.
        out_features: K, the number of outputs (classes, 1 for binary, or targets).
        hidden_size: H, the width of every hidden layer.
        num_layers: L, the number of hidden layers; 0 gives a linear model.
        activation: φ, a name from :func:`zoo.list_activations`.
        activation_kwargs: φ's own options, e.g. ``{"negative_slope": 0.2}`` for
            leaky_relu; each hidden layer gets its own φ (so prelu slopes are per layer).
        dropout: p in [0, 1), the drop probability after each hidden activation.
        norm: ``"none"`` or ``"batch"`` (BatchNorm1d before φ).

    The defaults are configs/model/mlp.yaml's, the recipe pinned on the 8x8 digits:
    batch norm and dropout 0.2 (``norm="none", dropout=0.0`` give the plain MLP).

    Shapes:
        input ``(B, *shape)`` with prod(shape) = F; output ``(B, K)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_size: int = 256,
        num_layers: int = 2,
        activation: str = "relu",
        activation_kwargs: dict[str, Any] | None = None,
        dropout: float = 0.2,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        check_sizes("mlp", in_features=in_features, out_features=out_features)
        self.embedding_size = out_features  # D: the output read as an embedding
        check_at_least("mlp num_layers", num_layers, 0)
        if num_layers > 0:
            check_at_least("mlp hidden_size", hidden_size, 1)
        check_fraction("mlp dropout", dropout)
        check_choice("mlp norm", norm, NORMS)
        check_activation(activation, activation_kwargs)

        layers: list[nn.Module] = []
        width = in_features
        for _ in range(num_layers):
            layers.append(
                dense_block(width, hidden_size, activation, activation_kwargs, norm, dropout)
            )
            width = hidden_size
        self.hidden = nn.Sequential(*layers)  # empty when num_layers == 0: identity
        self.head = nn.Linear(width, out_features)

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)  # (B, *shape) -> (B, F)
        h = self.hidden(x)  # (B, F) -> (B, H), or (B, F) if num_layers == 0
        return self.head(h)  # (B, K)


@register_model("mlp", capabilities=("embedding",))
def build_mlp(spec: DataSpec, out_features: int | None = None, **options: Any) -> MLP:
    """:class:`MLP` over the flattened samples; ``options`` are its arguments."""
    return MLP(
        spec.in_features, spec.num_outputs if out_features is None else out_features, **options
    )
