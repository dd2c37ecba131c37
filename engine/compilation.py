"""``trainer.compile=true``: the training forward through ``torch.compile``.

TorchDynamo traces the model's Python into graphs and Inductor generates fused
kernels for them (C++/OpenMP on the CPU, Triton on CUDA), so the first steps pay a
compile time and the later ones may run faster. Only the training forward goes
through the compiled module: the trainer keeps the model itself for the checkpoints
(parameter names without the compiled wrapper's ``_orig_mod.`` prefix, so a compiled
run's checkpoint loads in an uncompiled evaluation and resumes either way) and for
evaluation.

Inductor needs a C++ compiler on the CPU; without one the run trains uncompiled and
says so in one line. Where it continues: ``engine/trainer.py`` (``Trainer.net``).
"""

from __future__ import annotations

import logging
import os
import shutil

import torch
from torch import nn

log = logging.getLogger(__name__)


def c_compiler() -> str | None:
    """The C++ compiler Inductor would use on the CPU (``CXX``, else c++/g++/clang++)."""
    names = [os.environ.get("CXX", ""), "c++", "g++", "clang++"]
    return next((path for name in names if name and (path := shutil.which(name))), None)


def compiled(net: nn.Module, device: torch.device) -> nn.Module:
    """``torch.compile(net)``, or ``net`` itself (with one line) where it cannot compile."""
    if device.type == "cpu" and c_compiler() is None:
        log.warning("trainer.compile=true: no C++ compiler here (c++, g++), training uncompiled")
        return net
    return torch.compile(net)
