"""Optimizers and learning-rate schedulers by short name.

from optimizers import create_optimizer, create_scheduler
opt = create_optimizer("adamw", model.parameters(), lr=3e-4)  # impl="fused": PyTorch's kernels
ref = create_optimizer("adamw", model.parameters(), lr=3e-4, impl="reference")  # from scratch
sched = create_scheduler("cosine", opt, total_steps=10_000, steps_per_epoch=100)
# per batch: loss.backward(); opt.step(); sched.step()

Optimizers: sgd, momentum, nesterov (sgd.py), adagrad, adadelta, rmsprop (adaptive.py),
adam, adamw (adam.py), registered in factory.py. Schedules: constant, step, cosine,
warmup_cosine, one_cycle, linear, plateau (schedulers.py). Every module in this folder is
imported, so a new optimizer or schedule is one file with ``@register_optimizer`` or
``@register_scheduler``.
"""

from optimizers.factory import OPTIMIZERS, create_optimizer, list_optimizers, register_optimizer
from optimizers.schedulers import (
    SCHEDULERS,
    TooFewStepsError,
    create_scheduler,
    list_schedulers,
    register_scheduler,
)
from zoo.registry import import_submodules

import_submodules(__name__, __path__)

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "TooFewStepsError",
    "create_optimizer",
    "create_scheduler",
    "list_optimizers",
    "list_schedulers",
    "register_optimizer",
    "register_scheduler",
]
