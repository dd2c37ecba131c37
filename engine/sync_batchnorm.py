"""Batch normalization over the global batch of a data-parallel job, on any device.

Each rank holds n_r samples of a global batch of n = Σ_r n_r. Batch norm must
normalize with the statistics of the whole batch, not of the shard (else a W-rank run
is not the one-process run with the same ``trainer.batch_size``):

    μ = (1/n) Σ_r Σ_i x_ri          σ² = (1/n) Σ_r Σ_i (x_ri − μ)²
    y = γ · (x − μ) / sqrt(σ² + ε) + β

per channel, over every dimension but the channels. The sums are all-reduced across
the ranks with ``torch.distributed.nn.functional.all_reduce``, which is
differentiable (its backward all-reduces the gradients), so backpropagation through
μ and σ² reaches every rank's samples, as in one process. The running statistics
take μ and the unbiased σ²·n/(n − 1), as :class:`torch.nn.BatchNorm1d` does.

PyTorch's own :class:`torch.nn.SyncBatchNorm` computes the same with fused kernels
but refuses CPU tensors; :func:`convert_sync_batchnorm` uses it on CUDA and this
layer elsewhere (gloo on the CPU). Outside training, or in a one-process run, the
layer is plain batch norm. Where it continues: ``engine/distributed.py`` converts a
model's batch norms when ``trainer.sync_batchnorm=true``.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the batch across all ranks."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.ndim < 2:
            raise ValueError(f"expected (N, C, ...) input, got {x.ndim}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        synced = self.training and dist.is_initialized() and dist.get_world_size() > 1
        if not synced:
            return super().forward(x)
        self._check_input_dim(x)
        dims = [0, *range(2, x.ndim)]  # all but the channels
        shape = [1, -1] + [1] * (x.ndim - 2)  # (C,) -> (1, C, 1, ...)
        count = x.new_tensor([x.numel() // x.shape[1]])
        sums = dist_fn.all_reduce(torch.cat([x.sum(dims), count]))  # (C + 1,)
        n = sums[-1]
        mean = sums[:-1] / n  # μ, (C,)
        centred = x - mean.view(shape)
        var = dist_fn.all_reduce(centred.square().sum(dims)) / n  # σ², biased
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            self._update_running(mean.detach(), var.detach() * n / (n - 1))
        return y

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        """As :class:`torch.nn.BatchNorm1d`: an exponential average with ``momentum``,
        or the cumulative average when ``momentum`` is None."""
        self.num_batches_tracked.add_(1)
        m = 1.0 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
        self.running_mean.mul_(1 - m).add_(mean, alpha=m)
        self.running_var.mul_(1 - m).add_(unbiased_var, alpha=m)


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` with each batch norm layer synchronized across ranks, in place: the
    new layers hold the old ones' parameters and buffers (the same tensors, so an
    optimizer built before keeps training them, and the checkpoint names stay)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(
            child, SyncBatchNorm
        ):
            synced = SyncBatchNorm(
                child.num_features, child.eps, child.momentum, child.affine,
                child.track_running_stats,
            )  # fmt: skip
            synced.weight, synced.bias = child.weight, child.bias
            synced.running_mean, synced.running_var = child.running_mean, child.running_var
            synced.num_batches_tracked = child.num_batches_tracked
            synced.train(child.training)
            setattr(model, name, synced)
        else:
            convert_sync_batchnorm(child, device)
    return model
