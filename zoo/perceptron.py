"""The perceptron: a single artificial neuron (Rosenblatt, 1958).

One neuron computes a weighted sum of its inputs plus a bias and passes it through an
activation σ:

    z = w·x + b
    ŷ = σ(z)

For two classes a single neuron with the logistic sigmoid gives P(y = 1 | x) (this is
logistic regression); for K > 2 classes one neuron per class with a softmax across
them gives P(y = k | x) (multinomial logistic regression). Either way the decision
boundary is a hyperplane: the perceptron can only separate linearly separable classes,
the limitation Minsky & Papert (1969) made famous and that hidden layers (``mlp.py``)
remove.

Rosenblatt's original neuron used a hard threshold and its own update rule; here the
smooth σ lets it be trained by gradient descent on a cross-entropy loss, like every
other model in the zoo.

Where it continues: the loss that makes it logistic regression is
losses/classification.py (bce for one neuron, cross-entropy for one per class); the
training step is the default of :class:`engine.tasks.core.Task`, run by
engine/trainer.py.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.checks import check_sizes
from zoo.factory import register_model
from zoo.spec import DataSpec


class Perceptron(nn.Module):
    """z = w·x + b over the flattened input; ``forward`` returns the logits z.

    ``forward`` stops before σ on purpose: the losses take logits and fold σ into the
    log, e.g. log(1 − σ(z)) = −log(1 + eᶻ), which stays finite for any z, whereas
    computing σ(z) first rounds it to exactly 1 once z ≳ 17 in float32, and then
    log(1 − ŷ) = log 0 = −inf. Call :meth:`predict_proba` for ŷ = σ(z).

    Args:
        in_features: F, the size of one flattened sample.
        out_features: K, the number of neurons: 1 for binary classification (sigmoid),
            one per class otherwise (softmax), or the number of regression targets.

    Shapes:
        input ``(B, *shape)`` with prod(shape) = F; output ``(B, K)``.
    """

    def __init__(self, in_features: int, out_features: int = 1) -> None:
        super().__init__()
        check_sizes("perceptron", in_features=in_features, out_features=out_features)
        self.linear = nn.Linear(in_features, out_features)  # holds w (K, F) and b (K,)

    def forward(self, x: Tensor) -> Tensor:
        x = x.flatten(1)  # (B, *shape) -> (B, F)
        return self.linear(x)  # z = x wᵀ + b: (B, K)

    def predict_proba(self, x: Tensor) -> Tensor:
        """ŷ = σ(z): sigmoid for one neuron, softmax across neurons for several."""
        z = self(x)
        if z.shape[1] == 1:
            return torch.sigmoid(z)  # (B, 1): P(y = 1 | x)
        return torch.softmax(z, dim=1)  # (B, K): rows sum to 1


@register_model("perceptron")
def build_perceptron(spec: DataSpec, out_features: int | None = None) -> Perceptron:
    return Perceptron(spec.in_features, spec.num_outputs if out_features is None else out_features)
