"""Mixed precision: ``trainer.precision=32|bf16-mixed|16-mixed``.

The weights, the optimizer's state and the update stay in float32. Under *autocast*
the forward pass and the loss run their matrix products and convolutions in a 16-bit
type (bfloat16 or float16) and keep reductions, softmax and losses in float32; the
backward pass then runs each op in the type its forward used.

float16 has 5 exponent bits: gradients under about 6e-8 underflow to zero. Loss
scaling (Micikevicius et al., 2018) multiplies the loss by S before backward, so
the gradients are S·g and stay representable, and divides them by S before clipping
and the step. :class:`torch.amp.GradScaler` picks S dynamically: a step whose
gradients hold an inf or NaN is skipped and S halves; after 2000 clean steps S
doubles. bfloat16 has float32's 8 exponent bits, so it needs no scaling.

Where it can run: bf16-mixed on CUDA and on the CPU (slower than float32 on a CPU
without bf16 instructions, e.g. AVX2 only); 16-mixed on CUDA only (refused on the
CPU, where float16 matrix products are emulated). Where it continues: the trainer
wraps its forward and loss in :meth:`Precision.autocast` and steps through
:meth:`Precision.step`; the scaler's state goes into ``last.pt``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from engine.errors import ConfigError

PRECISIONS = {"32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def precision_name(value: Any) -> str:
    """``trainer.precision`` as a name (YAML reads ``32`` as a number)."""
    return str(value)


def check_precision(value: Any, device: torch.device) -> str:
    """The precision's name, or one line saying why it cannot run on ``device``."""
    name = precision_name(value)
    if name not in PRECISIONS:
        raise ConfigError(
            f"trainer.precision={value} is not a precision; use one of {', '.join(PRECISIONS)}"
        )
    if name == "16-mixed" and device.type != "cuda":
        raise ConfigError(
            f"trainer.precision=16-mixed needs a CUDA device (float16 on the {device.type} is "
            "emulated and unscaled); use trainer.precision=bf16-mixed or 32"
        )
    return name


_NO_AUTOCAST = contextlib.nullcontext()


class Precision:
    """Autocast for the forward pass and the loss, and the gradient scaler of fp16."""

    def __init__(self, name: str, device: torch.device) -> None:
        self.name, self.device = name, device
        self.dtype = PRECISIONS[name]
        # Loss scaling only where float16 gradients can underflow.
        self.scaler = torch.amp.GradScaler(device.type) if name == "16-mixed" else None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The forward pass and the loss in 16 bits where it is safe (no-op for 32:
        a shared ``nullcontext``, a fifth of a generator-based context manager's cost,
        since the trainer enters it every step)."""
        if self.dtype is None:
            return _NO_AUTOCAST
        return torch.autocast(self.device.type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, of S·loss under fp16 loss scaling."""
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Divide the gradients by S (before clipping reads them)."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``; with fp16, skipped when a gradient is inf/NaN, and S
        adjusted."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return {} if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
