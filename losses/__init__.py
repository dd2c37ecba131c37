"""Loss functions by short name, each written from its formula.

    from losses import create_loss
    criterion = create_loss("cross_entropy", label_smoothing=0.1)
    loss = criterion(logits, labels)

Adding a loss: subclass :class:`~losses.base.Loss` in the module for its task (or a
new module in this folder: every module here is imported), set ``tasks`` and
``target``, and decorate it with ``@register_loss("name")``.
"""

from losses.adversarial import GANLoss
from losses.base import (
    LOSSES,
    Loss,
    create_loss,
    get,
    list_losses,
    loss_target,
    loss_tasks,
    register_loss,
)
from losses.classification import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    SparseCrossEntropyLoss,
)
from losses.divergence import KLDivLoss, gaussian_kl
from losses.margin import HingeLoss, binary_hinge
from losses.metric_learning import ContrastiveLoss, TripletLoss, pairwise_distances
from losses.regression import HuberLoss, MAELoss, MSELoss
from zoo.registry import import_submodules

import_submodules(__name__, __path__)

__all__ = [
    "LOSSES",
    "BCEWithLogitsLoss",
    "ContrastiveLoss",
    "CrossEntropyLoss",
    "GANLoss",
    "HingeLoss",
    "HuberLoss",
    "KLDivLoss",
    "Loss",
    "MAELoss",
    "MSELoss",
    "SparseCrossEntropyLoss",
    "TripletLoss",
    "binary_hinge",
    "create_loss",
    "gaussian_kl",
    "get",
    "list_losses",
    "loss_target",
    "loss_tasks",
    "pairwise_distances",
    "register_loss",
]
