"""Data parallelism across processes: what ``torchrun ... train.py trainer=ddp`` needs.

Each of the W processes (ranks) started by ``torchrun`` holds the whole model and the
whole (in-memory) data. A step takes one global batch of N samples from the epoch's
shuffled order, the same order on every rank (``epoch_generator(seed, epoch)``), and
rank r reads its shard, samples r, r+W, r+2W, ... (``DistributedSampler``'s rule),
n_r of them. DistributedDataParallel averages the gradients over the ranks, so each
rank scales its mean loss L_r by its share, s_r = W·n_r/N:

    (1/W) Σ_r s_r ∇L_r = Σ_r (n_r/N) ∇L_r = ∇ (1/N) Σ_i l_i

the gradient of the global batch's mean loss, exactly what one process computes with
``trainer.batch_size = N`` (also for a last batch of an epoch that W does not divide).
So ``trainer.batch_size`` is the global batch and a W-rank run takes the steps of a
one-process run. The numbers a step reports are averaged over the ranks weighted by
n_r; validation and test run on the whole split on every rank (same weights, same
data, same numbers: the metrics of the whole split, not of a shard). Only rank 0
writes: the run directory, the TensorBoard events, the checkpoints (holding every
rank's random state, so a resumed job continues exactly), the progress bar.

The process group comes from torchrun's environment (RANK, WORLD_SIZE, MASTER_ADDR,
...): gloo for CPU tensors, NCCL for CUDA ones, picked by the device of each tensor.
Where it continues: the trainer calls :class:`World` at its few points of contact
(sharding, loss share, reductions, checkpoints); ``train.py`` calls
:func:`shared_run_dir` so that every rank uses the same run directory.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from engine.errors import ConfigError, TrainingError, error_line
from engine.sync_batchnorm import convert_sync_batchnorm


def launched_ranks() -> int:
    """How many processes torchrun started for this job (1 when not under torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def env_rank() -> int:
    """This process's rank by torchrun's environment (0 when not under torchrun)."""
    return int(os.environ.get("RANK", "0"))


def init_process_group() -> None:
    """Join the job's process group (torchrun's env:// rendezvous), once per process:
    gloo for CPU tensors and, where CUDA is present, NCCL for CUDA tensors."""
    if dist.is_initialized() or launched_ranks() == 1:
        return
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=10))
    # Leave the group before the interpreter ends: a group still alive then is torn
    # down with gloo's threads running, and C++ aborts the rank ("terminate called
    # without an active exception", SIGABRT) -- seen under load at the end of a job.
    atexit.register(leave_process_group)


def leave_process_group() -> None:
    """Destroy this process's group (a local call: no other rank is waited for)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def shared_run_dir(own: str | Path) -> Path:
    """Rank 0's run directory, on every rank.

    Each rank's Hydra resolves ``hydra.run.dir`` itself; with the default
    ``${now:...}`` pattern, ranks started a second apart would each make and write
    their own timestamped directory (the bug of lightning-hydra-template's issue
    #393). Every rank takes rank 0's instead, and removes the one its Hydra made
    when it is another (empty: ranks 1.. write no ``.hydra/`` and no log file)."""
    init_process_group()
    box = [str(own)]
    dist.broadcast_object_list(box, src=0)
    if box[0] != str(own):
        with contextlib.suppress(OSError):
            Path(own).rmdir()
    return Path(box[0])


def rank_device(device: torch.device) -> torch.device:
    """Under torchrun, ``cuda`` means this rank's GPU, ``cuda:LOCAL_RANK``."""
    if launched_ranks() > 1 and device.type == "cuda" and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


class World:
    """The ranks of one job as the trainer sees them: size 1 is a plain process."""

    def __init__(self, size: int = 1, rank: int = 0) -> None:
        self.size, self.rank = size, rank
        self._where: list[tuple[str, int]] = [(socket.gethostname(), os.getpid())]
        self._guarded = 0  # how deep this rank is in guard(): training or a collective
        self._report = threading.RLock()  # one line per rank, from whichever path is first
        self._reported = False
        if size > 1:  # where each rank runs, to name the one that ends early
            self._where = [("", 0)] * size
            dist.all_gather_object(self._where, (socket.gethostname(), os.getpid()))
            signal.signal(signal.SIGTERM, self._on_sigterm)
            threading.Thread(target=self._watch, name="rank-watch", daemon=True).start()

    @classmethod
    def from_config(cls, strategy: str, device: torch.device) -> World:
        """The job's world for ``trainer.strategy``, checked against how it was launched."""
        ranks = launched_ranks()
        if strategy == "ddp":
            if ranks == 1:
                return cls()  # one process: DDP would change nothing
            init_process_group()
            if device.type == "cuda" and device.index != int(os.environ.get("LOCAL_RANK", 0)):
                raise ConfigError(
                    f"device={device} under torchrun: each rank uses the GPU of its "
                    "LOCAL_RANK; use device=auto or cuda"
                )
            return cls(dist.get_world_size(), dist.get_rank())
        if ranks > 1:
            raise ConfigError(
                f"torchrun started {ranks} processes but trainer.strategy={strategy}: each "
                "would train the whole run on its own; add trainer=ddp"
            )
        return cls()

    @property
    def main(self) -> bool:
        """Whether this rank writes (rank 0)."""
        return self.rank == 0

    # ------------------------------------------------------------------ training

    def check_batches(self, batch_sizes: list[int], batch_size: int) -> None:
        """Every step must give every rank at least one sample."""
        if self.size > 1 and min(batch_sizes) < self.size:
            raise ConfigError(
                f"trainer.batch_size={batch_size} leaves a batch of {min(batch_sizes)} "
                f"samples for {self.size} ranks: some would get none; use a batch size "
                f"that leaves at least {self.size} samples in the last batch"
            )

    def shard(self, batches: Iterator[tuple[Any, torch.Tensor]]) -> Iterator[tuple[Any, Any]]:
        """This rank's share of each global batch, samples rank, rank+W, ... (and the
        share s_r = W·n_r/N its loss is scaled by); the batches as they are for W = 1."""
        for x, t in batches:
            if self.size == 1:
                yield x, t, 1.0
                continue
            part = slice(self.rank, None, self.size)
            x_r = tuple(v[part] for v in x) if isinstance(x, tuple) else x[part]
            t_r = t[part]  # (N, ...) -> (n_r, ...)
            yield x_r, t_r, self.size * t_r.shape[0] / t.shape[0]

    def wrap(self, model: nn.Module, sync_batchnorm: bool) -> nn.Module:
        """The module the training forward goes through: DistributedDataParallel around
        the model (its batch norms synchronized across ranks when asked)."""
        if self.size == 1:
            return model
        device = next(model.parameters()).device
        if sync_batchnorm:  # in place, with the same parameters and names
            convert_sync_batchnorm(model, device)
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def seed_rank(self, seed: int) -> None:
        """Seed ranks 1.. from ``(seed, rank)``, after the model's initial weights (which
        DDP takes from rank 0): each rank then draws its own dropout masks, as one
        process draws different masks for different samples."""
        if self.rank > 0:
            (state,) = np.random.SeedSequence([seed, self.rank]).generate_state(1)
            torch.manual_seed(int(state))

    def sync_buffers(self, model: nn.Module) -> None:
        """Rank 0's buffers (batch-norm statistics) everywhere, so that every rank
        evaluates the same model."""
        if self.size == 1:
            return
        for buffer in model.buffers():
            self._call(dist.broadcast, buffer, src=0)

    def weighted_mean(
        self, values: torch.Tensor, weights: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per entry, Σ_r w_r·v_r / Σ_r w_r over the ranks, and Σ_r w_r."""
        if self.size == 1:
            return values, weights
        both = torch.stack([values * weights, weights.to(values.dtype)])  # (2, K)
        self._call(dist.all_reduce, both)
        return both[0] / both[1], both[1]

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """Every rank's ``x`` (its own number of rows), concatenated in rank order."""
        if self.size == 1:
            return x
        counts = torch.tensor([x.shape[0]], device=x.device)
        all_counts = [torch.zeros_like(counts) for _ in range(self.size)]
        self._call(dist.all_gather, all_counts, counts)
        longest = int(max(c.item() for c in all_counts))
        padded = x.new_zeros((longest, *x.shape[1:]))  # (n_r, ...) -> (max n, ...)
        padded[: x.shape[0]] = x
        parts = [torch.empty_like(padded) for _ in range(self.size)]
        self._call(dist.all_gather, parts, padded)
        return torch.cat([p[: int(c.item())] for p, c in zip(parts, all_counts, strict=True)])

    def from_main(self, obj: Any) -> Any:
        """Rank 0's ``obj`` (a decision or a dict of numbers), on every rank."""
        if self.size == 1:
            return obj
        box = [obj]
        self._call(dist.broadcast_object_list, box, src=0)
        return box[0]

    def gather_objects(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order (on every rank)."""
        if self.size == 1:
            return [obj]
        out: list[Any] = [None] * self.size
        self._call(dist.all_gather_object, out, obj)
        return out

    # ------------------------------------------------------------------ failures

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Around training: a rank that ended (killed, crashed, out of memory) makes the
        others' next collective fail (DDP's gradient all-reduce, gloo's "Connection
        reset by peer"); this turns that into one line naming the rank, and the job
        ends (torchrun stops every rank once one has failed) instead of hanging. Where
        no error comes (a collective still waiting), :meth:`_watch` writes the line."""
        self._guarded += 1
        try:
            yield
        except (RuntimeError, dist.DistError) as e:
            gone = self._gone(wait_s=3.0)
            text = str(e)
            if self.size > 1 and (gone or isinstance(e, dist.DistError) or "gloo" in text):
                self._claim_report()
                raise TrainingError(self._lost(gone, text)) from None
            raise
        finally:
            self._guarded -= 1

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        """torchrun's SIGTERM to the ranks left once one has failed: it can come before
        this rank's next collective has noticed (torchrun looks every 0.1 s; a loaded
        machine may not run this rank that soon), so the line naming the ended rank is
        written here too. A second SIGTERM ends the process at once."""
        signal.signal(signum, signal.SIG_DFL)
        self._claim_report()
        gone = self._gone()
        if gone:
            raise TrainingError(self._lost(gone, "stopped by torchrun"))
        raise TrainingError(
            f"rank {self.rank} of {self.size} was stopped (SIGTERM) during training; "
            "resume=true with the same hydra.run.dir continues from the last checkpoint"
        )

    def _watch(self, every_s: float = 0.5, grace_s: float = 5.0) -> None:
        """A thread that ends this rank when another rank on this node has ended while
        this one is inside :meth:`guard` and has not heard of it grace_s later: a
        collective can wait for the lost rank without an error (gloo, rank 0 paused by
        a loaded machine while rank 1 was killed), and torchrun's SIGTERM handler
        (:meth:`_on_sigterm`) runs only once the main thread is back in Python."""
        since: float | None = None
        while True:
            time.sleep(every_s)
            gone = self._gone() if self._guarded else []
            since = (since or time.monotonic()) if gone else None
            if since is not None and time.monotonic() - since >= grace_s:
                with self._report:  # held until the process ends: no second line
                    if self._reported:
                        return
                    print(error_line(self._lost(gone, "")), file=sys.stderr, flush=True)
                    os._exit(2)  # the main thread waits in C++; nothing else can end it

    def _claim_report(self) -> None:
        """The main thread reports (by raising); the watch thread then stays quiet."""
        with self._report:
            self._reported = True

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """A collective, under :meth:`guard`."""
        with self.guard():
            return fn(*args, **kwargs)

    def _gone(self, wait_s: float = 0.0) -> list[int]:
        """The ranks on this node whose process has ended, waiting up to wait_s for one:
        a killed process closes its sockets (our collective's error) a moment before
        /proc shows it ended."""
        here = socket.gethostname()
        deadline = time.monotonic() + wait_s
        while True:
            gone = [r for r, (h, pid) in enumerate(self._where) if h == here and _ended(pid)]
            if gone or time.monotonic() >= deadline:
                return gone
            time.sleep(0.05)

    def _lost(self, gone: list[int], error: str) -> str:
        first = (error.strip().splitlines() or ["?"])[0][:160]
        who = (
            ", ".join(f"rank {r}" for r in gone) + f" of {self.size} ended"
            if gone
            else f"a rank on another node ended or lost its connection ({first})"
        )
        return (
            f"{who} during training, so rank {self.rank} stops too; its own output says "
            "why, and resume=true with the same hydra.run.dir continues from the last checkpoint"
        )


def _ended(pid: int) -> bool:
    """Whether process ``pid`` is gone or a zombie (ended, not yet reaped by torchrun)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True
