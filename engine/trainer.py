"""The training loop: epochs of mini-batch gradient descent, validation, early
stopping, gradient clipping, checkpoints, and exact resume.

Vocabulary (the guide's): an *iteration* (step) is one optimizer update on one
batch; an *epoch* is one pass over the training split. ``batch_size`` equal to the
training-set size is batch gradient descent; ``batch_size: 1`` is per-sample SGD.

One loop trains every task: each batch goes to :meth:`Task.training_step`, by default
forward, backward and one optimizer step (:meth:`Trainer.forward_backward`,
:meth:`Trainer.optimizer_step`); a GAN or a VAE writes its own step from
:meth:`Trainer.update`. Either way the loop does the bookkeeping: learning-rate
schedules, clipping, inf/NaN checks of every number, per-step logs, histograms.

Exact resume: ``last.pt`` holds the model, optimizer, scheduler, every RNG state and
the counters, written at the end of each epoch. The training data are shuffled by a
generator seeded from ``(seed, epoch)``, so the order of epoch ``k`` does not depend
on how the run got there. A run resumed from epoch ``k`` therefore ends with the
same bits as one that was never interrupted.

Scale-out, each in its own module: data parallelism under torchrun (``trainer=ddp``,
engine/distributed.py: each rank trains on its shard of every global batch, rank 0
writes), mixed precision (``trainer.precision``, engine/precision.py: autocast of the
forward and the loss, fp16's gradient scaler) and ``trainer.compile``
(engine/compilation.py). The training forward goes through ``self.net``, the wrapped
model; checkpoints and evaluation use ``self.model``, with its plain parameter names.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from engine.augmentation import augment_generator
from engine.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from engine.compilation import compiled
from engine.data import DataModule, Inputs, batch_slices, call_model
from engine.distributed import World
from engine.errors import ConfigError, TrainingError
from engine.history import FILE as HISTORY_FILE
from engine.history import History
from engine.precision import Precision, check_precision, precision_name
from engine.seeds import epoch_seed
from engine.tasks import Task, flatten_steps
from optimizers.schedulers import ConstantRate, EndsEpochs
from zoo.sequence import as_sequence, detach_state

# What each type in TrainerConfig's annotations accepts, and how an error names it. A
# bool is no number here (true is not a patience); an integer is a float.
KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "int": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "float": ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "str": ("a string", lambda v: isinstance(v, str)),
    "None": ("null", lambda v: v is None),
}


@dataclass
class TrainerConfig:
    """Mirrors ``configs/trainer/default.yaml`` field for field."""

    max_epochs: int = 60  # upper bound; early stopping usually ends sooner
    batch_size: int = 64  # 1 = per-sample SGD, >= train size = batch gradient descent
    limit_train_batches: int | None = None  # at most this many steps an epoch; null = all
    grad_clip: float | None = None  # max global L2 norm of the gradients; null = off
    grad_clip_value: float | None = None  # clamp each gradient entry to [-v, v]; null = off
    patience: int | None = 10  # epochs without val-loss improvement before stopping
    min_delta: float = 0.0  # how much lower the val loss must be to count as better
    log_every_n_steps: int = 1  # train loss (and the learning rate when it changes)
    histogram_every_n_steps: int = 200  # grad norms + histograms per layer; 0 = off;
    # a run that ends before its first such step has them at each epoch's end instead
    checkpoint_interval_s: float = 10.0  # min seconds between last.pt writes; 0 = every epoch
    progress_bar: bool = True
    test_checkpoint: str = "best"  # weights the test metrics use: best (val loss) | last
    tbptt_window: int | None = None  # truncated BPTT: steps per window; null = full BPTT
    strategy: str = "single"  # single (one process) | ddp (torchrun, engine/distributed.py)
    sync_batchnorm: bool = False  # ddp: batch norm over the global batch, not the shard
    precision: str = "32"  # 32 | bf16-mixed | 16-mixed (engine/precision.py)
    compile: bool = False  # torch.compile the training forward (engine/compilation.py)

    def steps_taken(self, batches: int) -> int:
        """The training steps of an epoch of ``batches`` batches, ``limit_train_batches``
        applied: what the schedules count and the epoch loop takes."""
        return min(batches, self.limit_train_batches or batches)

    def __post_init__(self) -> None:
        self.precision = precision_name(self.precision)  # YAML reads 32 as a number
        for field in fields(self):  # trainer.patience=abc: this line, not a TypeError below
            value, kinds = getattr(self, field.name), str(field.type).split(" | ")
            if not any(KINDS[kind][1](value) for kind in kinds):
                wanted = " or ".join(KINDS[kind][0] for kind in kinds)
                raise ConfigError(f"trainer.{field.name} must be {wanted}, got {value!r}")
        if self.max_epochs < 0:
            raise ConfigError(f"trainer.max_epochs must be >= 0, got {self.max_epochs}")
        if self.batch_size < 1:
            raise ConfigError(
                f"trainer.batch_size must be >= 1 (1 = per-sample SGD), got {self.batch_size}"
            )
        if self.limit_train_batches is not None and self.limit_train_batches < 1:
            raise ConfigError(
                f"trainer.limit_train_batches must be >= 1 or null (every batch), "
                f"got {self.limit_train_batches}"
            )
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"trainer.grad_clip must be > 0 or null, got {self.grad_clip}")
        if self.grad_clip_value is not None and self.grad_clip_value <= 0:
            raise ConfigError(
                f"trainer.grad_clip_value must be > 0 or null, got {self.grad_clip_value}"
            )
        if self.histogram_every_n_steps < 0:
            raise ConfigError(
                f"trainer.histogram_every_n_steps must be >= 0 (0 = off), "
                f"got {self.histogram_every_n_steps}"
            )
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"trainer.patience must be >= 1 or null, got {self.patience}")
        if self.checkpoint_interval_s < 0:
            raise ConfigError(
                f"trainer.checkpoint_interval_s must be >= 0, got {self.checkpoint_interval_s}"
            )
        if self.log_every_n_steps < 1:
            raise ConfigError(
                f"trainer.log_every_n_steps must be >= 1, got {self.log_every_n_steps}"
            )
        if self.tbptt_window is not None and self.tbptt_window < 1:
            raise ConfigError(
                f"trainer.tbptt_window must be >= 1 steps, or null for full BPTT; "
                f"got {self.tbptt_window}"
            )
        if self.strategy not in ("single", "ddp"):
            raise ConfigError(f"trainer.strategy must be single or ddp, got {self.strategy}")
        if self.strategy == "ddp" and self.tbptt_window is not None:
            raise ConfigError(
                "trainer.tbptt_window with trainer=ddp: truncated BPTT steps several backward "
                "passes per batch, which DDP would each synchronize; use one or the other"
            )
        if self.precision != "32" and self.tbptt_window is not None:
            raise ConfigError(
                f"trainer.precision={self.precision} with trainer.tbptt_window: truncated BPTT "
                "runs in float32 here; use trainer.precision=32 or trainer.tbptt_window=null"
            )
        if self.test_checkpoint not in ("best", "last"):
            raise ConfigError(
                f"trainer.test_checkpoint must be best or last, got {self.test_checkpoint}"
            )


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The shuffling RNG of one epoch, a pure function of (seed, epoch) (engine/seeds.py)."""
    return torch.Generator().manual_seed(epoch_seed(seed, epoch))


class Trainer:
    """Fits a model with a task's loss; knows nothing about any concrete model.

    Built in five parts, each set up by one method of ``__init__`` that says where it
    continues: what trains (:meth:`_set_optimizers`), where the run stands
    (:meth:`_set_counters`), what the batches go through and who is called back
    (:meth:`_set_hooks`), how the step scales out (:meth:`_scale_up`) and what the run
    leaves behind (:meth:`_set_records`).
    """

    def __init__(
        self,
        cfg: TrainerConfig,
        *,
        model: nn.Module,
        task: Task,
        loss_fn: nn.Module,
        optimizers: dict[str, torch.optim.Optimizer],
        schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler],
        regularizer: Any,
        data: DataModule,
        logger: Any,
        checkpoint_dir: str | Path,
        seed: int,
        extra_state: dict[str, Any] | None = None,
        augment: Any = None,
        world: World | None = None,
    ) -> None:
        self.cfg = cfg
        self.model, self.task, self.loss_fn, self.regularizer = model, task, loss_fn, regularizer
        self.data, self.logger, self.seed = data, logger, seed
        self._set_optimizers(optimizers, schedulers)
        self._set_counters()
        self._set_hooks(augment)
        self._scale_up(world or World(), data.device)
        self._set_records(Path(checkpoint_dir), extra_state or {})

    def _set_optimizers(
        self,
        optimizers: dict[str, torch.optim.Optimizer],
        schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler],
    ) -> None:
        """One optimizer (and schedule) per part the task trains: ``{"model": ...}`` for
        most tasks, ``{"generator": ..., "discriminator": ...}`` for a GAN; the first is
        the one errors name. Continues in :meth:`optimizer_step` and :meth:`update`
        (which step them), :meth:`_train_epoch` (which steps the schedules) and
        :meth:`_rate_groups` (the learning rates logged)."""
        if optimizers.keys() != schedulers.keys() or not optimizers:
            raise ValueError("Trainer needs one scheduler per optimizer, by the same names")
        self.optimizers, self.schedulers = optimizers, schedulers
        # What _train_epoch calls: step() after each step on the schedules that move
        # the rate, end_epoch() at each epoch's end on those that decide then (plateau).
        self._stepped = [s for s in schedulers.values() if not isinstance(s, ConstantRate)]
        self._ending_epochs = [s for s in schedulers.values() if isinstance(s, EndsEpochs)]
        self._first = next(iter(optimizers))
        self.optimizer = optimizers[self._first]
        # What each optimizer updates: for backward, clipping and the histograms.
        self._params = {
            name: [p for group in opt.param_groups for p in group["params"]]
            for name, opt in optimizers.items()
        }
        ids = {name: {id(p) for p in params} for name, params in self._params.items()}
        self._named = {
            name: [(n, p) for n, p in self.model.named_parameters() if id(p) in ids[name]]
            for name in optimizers
        }
        # One learning-rate curve per optimizer when there are several (lr/generator, ...).
        self._lr_tags = {k: "lr" if len(optimizers) == 1 else f"lr/{k}" for k in optimizers}
        self._logged_lr: dict[str, float] = {}  # TensorBoard tag -> the rate last drawn

    def _set_counters(self) -> None:
        """Where the run stands: everything the loop needs to continue exactly where it
        stopped. :meth:`state_dict` saves them (``counters``), :meth:`load_state_dict`
        restores them; :meth:`_after_epoch` keeps the early-stopping ones."""
        self.epoch = 0  # completed epochs
        self.step = 0  # completed optimizer steps (iterations)
        self.best_val_loss = math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.stopped_early = False
        self.train_time = 0.0

    def _set_hooks(self, augment: Any) -> None:
        """What training batches go through and what is called back, set by
        :func:`engine.run.make_trainer`:

        - ``augment``: an augment.Pipeline (None or empty: nothing), applied by the
          task's ``training_step`` with ``augment_generator``, which
          :meth:`_train_epoch` draws from ``(seed, epoch)`` like the shuffling;
        - ``epoch_hooks``: called with the (0-based) epoch before it trains, e.g.
          transfer's unfreezing (engine/transfer);
        - ``val_hooks``: called by :meth:`fit` with the number of finished epochs and
          their validation metrics, after the checkpoint, e.g. a search's pruning
          (engine/pruning.py).
        """
        self.augment = augment
        self.augment_generator: torch.Generator | None = None
        self.epoch_hooks: list[Callable[[int], None]] = []
        self.val_hooks: list[Callable[[int, dict[str, float]], None]] = []

    def _scale_up(self, world: World, device: torch.device) -> None:
        """Data parallelism, precision and compilation, as configured: ``self.net`` is
        what the training forward goes through (DDP around the compiled model, or the
        model itself); ``self.model`` is what checkpoints and evaluation use.

        Continues in engine/distributed.py (``world``: :meth:`_train_epoch` shards the
        batches, ``_share`` scales each rank's loss in :meth:`_forward_backward`,
        :meth:`_summarize` reduces the epoch's numbers, rank 0 writes), in
        engine/precision.py (``precision``: autocast, backward and step in
        :meth:`_forward_backward` and :meth:`optimizer_step`) and
        engine/compilation.py."""
        cfg, own_step = self.cfg, type(self.task).training_step is not Task.training_step
        self.world = world
        self.precision = Precision(check_precision(cfg.precision, device), device)
        if own_step and (world.size > 1 or cfg.precision != "32" or cfg.compile):
            raise ConfigError(
                f"task '{self.task.name}' trains with a step of its own; trainer=ddp, "
                "trainer.precision and trainer.compile apply to the tasks with the default "
                "step (classification, regression, ...): leave them at their defaults"
            )
        if world.size > 1 and self.data.spec.input_kind == "graph":
            raise ConfigError("trainer=ddp shards batches of samples; graph data has no batches")
        sizes = [s.stop - s.start for s in batch_slices(self.data.size("train"), cfg.batch_size)]
        world.check_batches(sizes[: cfg.steps_taken(len(sizes))], cfg.batch_size)
        self.net = compiled(self.model, device) if cfg.compile else self.model
        self.net = world.wrap(self.net, cfg.sync_batchnorm)
        world.seed_rank(self.seed)  # each rank its own dropout draws
        self._share = 1.0  # this rank's share of the step's batch (engine/distributed.py)

    def _set_records(self, checkpoint_dir: Path, extra_state: dict[str, Any]) -> None:
        """What the run leaves behind: checkpoints (:meth:`save`, ``last.pt`` and
        ``best.pt`` in ``checkpoint_dir``, with ``extra_state``: the config, the data's
        statistics) and the history (engine/history.py: one row per finished epoch, in
        ``last.pt`` and ``<run_dir>/history.csv``, which rank 0 writes)."""
        self.checkpoint_dir = checkpoint_dir
        self.extra_state = extra_state
        self._best_state: dict[str, torch.Tensor] | None = None  # best weights, in memory
        self._best_saved = True  # whether best.pt holds them already
        self._last_save = time.monotonic()
        history_file = checkpoint_dir.parent / HISTORY_FILE if self.world.main else None
        self.history = History(history_file)

    # ------------------------------------------------------------------ the loop

    def fit(self) -> dict[str, Any]:
        """Train until ``max_epochs`` or early stopping; return a summary."""
        cfg = self.cfg
        bar = tqdm(
            total=cfg.max_epochs,
            initial=min(self.epoch, cfg.max_epochs),
            desc="epochs",
            unit="ep",
            disable=not cfg.progress_bar or not self.world.main,
            dynamic_ncols=True,
        )
        try:
            while self.epoch < cfg.max_epochs and not self.stopped_early:
                start, steps_before = time.perf_counter(), self.step
                with self.world.guard():  # a rank that ends: one line naming it
                    train = self._train_epoch()
                self.epoch += 1
                self.world.sync_buffers(self.model)  # every rank evaluates one model
                val = self.world.from_main(
                    self.task.evaluate(self.model, self.loss_fn, self.data, "val")
                )
                self.train_time += time.perf_counter() - start
                self._log_epoch(train, val)
                if self.logger.draws:
                    self.task.log_epoch(self.model, self.data, self.logger, self.step)
                self._after_epoch(val["loss"])
                if self._short_of_histograms(self.step - steps_before):
                    self._log_gradients(self.step, [p for ps in self._named.values() for p in ps])
                for hook in self.val_hooks:
                    hook(self.epoch, val)
                # What set_postfix would show, without its dict and sorting passes.
                shown = [("train", train), ("val", val)]
                bar.set_postfix_str(
                    ", ".join(f"{s}_{k}={v:.4g}" for s, values in shown for k, v in values.items()),
                    refresh=False,  # update() redraws at most every 0.1 s
                )
                bar.update(1)
        finally:
            bar.close()
            self.logger.flush()
            self.history.close()
        return {
            "epochs": self.epoch,
            "steps": self.step,
            "best_epoch": self.best_epoch,
            # JSON has no Infinity: a run with no finished epoch has no best loss yet.
            "best_val_loss": self.best_val_loss if math.isfinite(self.best_val_loss) else None,
            "stopped_early": self.stopped_early,
            "train_time_s": self.train_time,
        }

    def _train_epoch(self) -> dict[str, float]:
        """One pass over the shuffled training split (its first ``limit_train_batches``
        batches, when set), one ``task.training_step`` per batch; returns the epoch's
        train metrics.

        The step loop does only the work of a hand-written loop. The numbers each step
        reports are kept (detached) and turned into floats once, at the end of the
        epoch: one device sync per epoch instead of one per step, and no per-step
        metric kernels. The epoch's value of each number is its mean over the samples
        of the steps that reported it (a GAN's generator loss appears only on the steps
        that update G); ``loss`` is the data loss L alone (comparable to ``val/loss``),
        ``penalty`` the regularizer's Ω, and the default step minimizes their sum. A
        schedule with ``end_epoch`` (``sched=plateau``) gets the epoch's ``loss``.
        """
        task, model = self.task, self.model
        for hook in self.epoch_hooks:
            hook(self.epoch)
        if not model.training:  # after the first epoch, evaluation's eval_mode put it back
            model.train()
        first_step = self.step + 1
        records: list[dict[str, torch.Tensor]] = []
        sizes: list[int] = []
        outs: list[torch.Tensor] = []
        targets: list[torch.Tensor] = []
        groups = self._rate_groups()
        lrs: dict[str, list[float]] = {tag: [] for tag, _ in groups}
        schedulers = self._stepped
        batches = self.world.shard(
            task.train_batches(
                self.data, self.cfg.batch_size, epoch_generator(self.seed, self.epoch)
            )
        )
        batches = itertools.islice(batches, self.cfg.limit_train_batches)  # None: all
        self.augment_generator = augment_generator(self.seed, self.epoch, self.data.device)
        # An optimizer may sit out a step (a GAN's generator with d_steps > 1): its
        # schedule still follows the trainer's steps, which PyTorch would warn about.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step")
            for x, t, self._share in batches:
                for tag, group in groups:  # the rates this step uses
                    lrs[tag].append(group["lr"])
                step = task.training_step(self, x, t)
                records.append({k: v.detach() for k, v in step.values.items()})
                if step.outputs is not None:
                    outs.append(step.outputs.detach())
                    targets.append(step.targets)
                sizes.append((t if step.targets is None else step.targets).shape[0])
                for scheduler in schedulers:
                    scheduler.step()
                self.step += 1
        metrics = self._summarize(first_step, records, sizes, lrs)
        for scheduler in self._ending_epochs:  # plateau: the epoch's loss decides the next rate
            scheduler.end_epoch(metrics["loss"])
        if outs:
            gather = self.world.gather
            metrics |= task.train_metrics(gather(torch.cat(outs)), gather(torch.cat(targets)))
        return metrics

    def _rate_groups(self) -> list[tuple[str, dict[str, Any]]]:
        """Each learning rate's TensorBoard tag and parameter group: ``lr`` (or
        ``lr/<optimizer>``), and ``<that>/<group name>`` for an optimizer whose groups
        train at rates of their own (transfer's backbone and head, layer by layer).
        Read every epoch: ``load_state_dict`` makes new group dicts."""
        out = []
        for k, tag in self._lr_tags.items():
            groups = self.optimizers[k].param_groups
            if len(groups) == 1:
                out.append((tag, groups[0]))
            else:
                out.extend((f"{tag}/{g.get('name', i)}", g) for i, g in enumerate(groups))
        return out

    def _summarize(
        self,
        first_step: int,
        records: list[dict[str, torch.Tensor]],
        sizes: list[int],
        lrs: dict[str, list[float]],
    ) -> dict[str, float]:
        """The epoch's numbers as floats (its one sync), each checked for inf/NaN; the
        per-step logs; and each number's mean over the samples of its steps."""
        flat = [v for record in records for v in record.values()]
        if flat and self.world.size > 1:  # each step's numbers over the ranks' samples
            weights = torch.tensor([n for r, n in zip(records, sizes, strict=True) for _ in r])
            stacked, weights = self.world.weighted_mean(torch.stack(flat), weights.to(flat[0]))
            flat, sizes = list(stacked), self._global_sizes(records, sizes, weights.tolist())
        values = iter(torch.stack(flat).tolist() if flat else [])  # the epoch's one sync
        rates = next(iter(lrs.values()))  # the rates errors name: the first optimizer's
        series: dict[str, list[float | None]] = {}
        for i, record in enumerate(records):
            for name in record:
                value = next(values)
                if not math.isfinite(value):
                    where = "weight penalty" if name == "penalty" else f"training {name}"
                    self._diverged(value, where, step=first_step + i, lr=rates[i])
                series.setdefault(name, [None] * len(records))[i] = value
        losses = {k: v for k, v in series.items() if k.startswith("loss")}
        self._log_steps(first_step, losses, lrs)
        metrics = {}
        for name, per_step in series.items():
            pairs = [(v, n) for v, n in zip(per_step, sizes, strict=True) if v is not None]
            metrics[name] = math.fsum(v * n for v, n in pairs) / sum(n for _, n in pairs)
        return metrics

    @staticmethod
    def _global_sizes(
        records: list[dict[str, torch.Tensor]], sizes: list[int], weights: list[float]
    ) -> list[int]:
        """Each step's number of samples over all ranks (from the reduced weights)."""
        out, i = [], 0
        for record, n in zip(records, sizes, strict=True):
            out.append(round(weights[i]) if record else n)
            i += len(record)
        return out

    # ------------------------------------------------------------------ what a step calls

    def forward_backward(self, x: Inputs, t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One batch through the model and back, through time truncated to windows of
        ``tbptt_window`` steps when set: returns outputs, targets, data loss L and
        penalty Ω (or None), with the gradients of L + Ω in ``.grad``."""
        if self.cfg.tbptt_window is None:
            return self._forward_backward(x, t)
        return self._forward_backward_truncated(x, t)

    def optimizer_step(self, name: str) -> None:
        """Step optimizer ``name`` on the gradients in ``.grad``: log them every
        ``histogram_every_n_steps`` steps (as backward left them, before clipping, so an
        explosion shows), clip them as configured, step."""
        every = self.cfg.histogram_every_n_steps
        if every and (self.step + 1) % every == 0:
            self._log_gradients(self.step + 1, self._named[name])
        self.precision.unscale(self.optimizers[name])
        self._clip(self._params[name])
        self.precision.step(self.optimizers[name])

    def update(self, name: str, loss: torch.Tensor) -> None:
        """One step of optimizer ``name`` on ``loss``: zero its gradients, backpropagate,
        then :meth:`optimizer_step`. What a task's own training step calls."""
        params = [p for p in self._params[name] if p.requires_grad]  # not a frozen layer
        self._zero_grad(params)
        # Gradients of these parameters only: a generator's loss leaves no stale
        # gradients in the discriminator (which histograms would then show as its own).
        loss.backward(inputs=params)
        self.optimizer_step(name)

    def penalty(self) -> torch.Tensor | None:
        """The regularizer's weight penalty Ω of the model now (None without one)."""
        return None if self.regularizer is None else self.regularizer(self.model)

    @staticmethod
    def _zero_grad(params: list[torch.Tensor]) -> None:
        """``optimizer.zero_grad(set_to_none=True)`` without its wrappers (a TorchDynamo
        guard and a profiler range): ~40 µs a call, 3% of a step of the default MLP."""
        for p in params:
            p.grad = None

    def _clip(self, params: list[torch.Tensor]) -> None:
        """Gradient clipping as configured: each entry to [-v, v], then the global norm."""
        if self.cfg.grad_clip_value is None and self.cfg.grad_clip is None:
            return
        params = [p for p in params if p.grad is not None]
        if self.cfg.grad_clip_value is not None:
            nn.utils.clip_grad_value_(params, self.cfg.grad_clip_value)
        if self.cfg.grad_clip is not None:  # after the value clip, so the norm bound holds
            nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)

    def _forward_backward(self, x: Inputs, t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Full backpropagation (through time too, for a recurrent model)."""
        with self.precision.autocast():
            out, t = flatten_steps(call_model(self.net, x), t)  # (B, T, K) -> (B·T, K)
            loss = self.loss_fn(out, t)
        penalty = self.penalty()
        self._zero_grad(self._params[self._first])
        # Scaled by this rank's share of the batch, DDP's mean of the ranks' gradients
        # is the gradient of the whole batch's mean loss (engine/distributed.py).
        scaled = loss if self._share == 1.0 else loss * self._share
        self.precision.backward(scaled if penalty is None else scaled + penalty)
        return out, t, loss, penalty

    def _forward_backward_truncated(self, x: Inputs, t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Truncated backpropagation through time (Williams & Peng, 1990): the batch's
        sequences are cut into windows of ``tbptt_window`` steps; the hidden state is
        carried from one window into the next but detached, so gradients flow back at
        most one window. Memory then grows with the window, not the sequence.

        Each window's loss is backpropagated as soon as it is computed and the
        gradients add up; the optimizer steps once per batch. With a target per step,
        window w contributes its steps' loss weighted by its share of the steps, so
        the sum is the mean loss over the whole sequence. With one target per
        sequence only the last window has a loss: the earlier windows only carry the
        state forward, and no gradient reaches the steps before the last window. A
        window as long as the sequence is full BPTT.
        """
        model, window = self.model, self.cfg.tbptt_window
        seq = as_sequence(x)  # (B, T, F), as the model reads it
        total = seq.shape[1]
        step_targets = self.data.spec.step_targets
        self._zero_grad(self._params[self._first])
        state, outs, tws, loss = None, [], [], seq.new_zeros(())
        for start in range(0, total, window):
            xw = seq[:, start : start + window]  # (B, T, F) -> (B, W, F)
            last = start + window >= total
            if step_targets:
                out, state = model.forward_window(xw, state)
                out, tw = flatten_steps(out, t[:, start : start + window])  # (B·W, K)
                part = self.loss_fn(out, tw) * (xw.shape[1] / total)
            elif last:
                out, state = model.forward_window(xw, state)
                tw, part = t, self.loss_fn(out, t)
            else:  # no loss here: carry the state only
                with torch.no_grad():
                    _, state = model.forward_window(xw, state)
                continue
            penalty = self.penalty() if last else None
            (part if penalty is None else part + penalty).backward()
            loss = loss + part.detach()
            outs.append(out)
            tws.append(tw)
            state = detach_state(state)
        # Window by window, outputs and targets stay paired (for the epoch's metrics).
        return torch.cat(outs), torch.cat(tws), loss, penalty

    # ------------------------------------------------------------------ logs

    def _log_gradients(self, step: int, named: list[tuple[str, torch.Tensor]]) -> None:
        """``grad_norm/<name>`` = ‖∂L/∂θ‖₂ of each parameter, plus histograms of the
        weights and gradients: vanishing or exploding gradients show up layer by layer.
        At an epoch's end (a short run) the gradients are the last step's, as the
        optimizer step left them (after clipping, when set)."""
        named = [(name, p) for name, p in named if p.grad is not None]
        if not named:
            return
        norms = torch.stack([p.grad.detach().norm() for _, p in named]).tolist()  # one sync
        self.logger.scalars(
            {f"grad_norm/{name}": v for (name, _), v in zip(named, norms, strict=True)}, step
        )
        tensors = {}
        for name, p in named:
            tensors[f"weights/{name}"], tensors[f"grads/{name}"] = p, p.grad
        self.logger.histograms(tensors, step)

    def _short_of_histograms(self, epoch_steps: int) -> bool:
        """Whether this run ends before its first ``histogram_every_n_steps`` step, as
        far as its epochs of ``epoch_steps`` steps so far tell: then it logs the
        gradients at each epoch's end instead (and an early-stopped one at its last), so
        a short run shows them too and a long one pays for them every N steps only."""
        every = self.cfg.histogram_every_n_steps
        if not 0 < self.step < every:
            return False
        epochs_left = 0 if self.stopped_early else self.cfg.max_epochs - self.epoch
        return self.step + epochs_left * epoch_steps < every

    def _log_steps(
        self,
        first_step: int,
        series: dict[str, list[float | None]],
        lrs: dict[str, list[float]],
    ) -> None:
        """Each learning rate (by its tag) at the steps where it changed (a constant
        rate: one point), and the train losses every ``log_every_n_steps`` steps
        (``train/<name>_step``; a step without a value skips it); in one write."""
        rows = []  # (step, scalars)
        for tag, rates in lrs.items():
            last = self._logged_lr.get(tag)
            for i, rate in enumerate(rates):
                if rate != last:
                    rows.append((first_step + i, {tag: rate}))
                    last = rate
            self._logged_lr[tag] = last
        tags = {name: f"train/{name}_step" for name in series}
        every, n = self.cfg.log_every_n_steps, len(next(iter(lrs.values())))
        for i in range(-first_step % every, n, every):  # the steps that are multiples of every
            rows.append(
                (first_step + i, {tags[k]: v[i] for k, v in series.items() if v[i] is not None})
            )
        self.logger.scalars_at(rows)

    def _log_epoch(self, train: dict[str, float], val: dict[str, float]) -> None:
        scalars = {"epoch": self.epoch}
        for split, metrics in (("train", train), ("val", val)):
            scalars.update({f"{split}/{name}": value for name, value in metrics.items()})
        self.logger.scalars(scalars, self.step)
        lr = self.optimizer.param_groups[0]["lr"]
        self.history.append({"epoch": self.epoch, "step": self.step, "lr": lr, **scalars})

    def _diverged(
        self,
        value: float,
        where: str = "training loss",
        step: int | None = None,
        epoch: int | None = None,
        lr: float | None = None,
    ) -> None:
        """Stop with one line; ``epoch`` defaults to the one in progress (training),
        ``lr`` to the current rate (pass the rate the failing step used)."""
        lr = self.optimizer.param_groups[0]["lr"] if lr is None else lr
        kept = f"; the last good checkpoint is {self.last_path}" if self.last_path.exists() else ""
        raise TrainingError(
            f"{where} became {value} at epoch {epoch or self.epoch + 1}, step {step or self.step} "
            f"(learning rate {lr:g}): lower optim.lr or set trainer.grad_clip, and check the "
            f"data for inf/NaN{kept}"
        )

    # ------------------------------------------------------------------ checkpoints

    def _after_epoch(self, val_loss: float) -> None:
        """Early stopping bookkeeping, then a checkpoint if one is due."""
        if not math.isfinite(val_loss):
            self._diverged(val_loss, where="validation loss", epoch=self.epoch)
        if val_loss < self.best_val_loss - self.cfg.min_delta:
            self.best_val_loss, self.best_epoch, self.bad_epochs = val_loss, self.epoch, 0
            self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self._best_saved = False
        else:
            self.bad_epochs += 1
            if self.cfg.patience is not None and self.bad_epochs >= self.cfg.patience:
                self.stopped_early = True
        finished = self.stopped_early or self.epoch >= self.cfg.max_epochs
        due = time.monotonic() - self._last_save >= self.cfg.checkpoint_interval_s
        if finished or self.world.from_main(due):  # rank 0's clock decides for all
            self.save()

    @property
    def last_path(self) -> Path:
        return self.checkpoint_dir / "last.pt"

    @property
    def best_path(self) -> Path:
        return self.checkpoint_dir / "best.pt"

    def save(self) -> None:
        """Write ``best.pt`` (if the best weights changed) and then ``last.pt``.

        In that order, so ``last.pt`` never names a best epoch whose weights are not
        on disk. Writing costs milliseconds, as much as an epoch of a small model, so
        ``checkpoint_interval_s`` spaces the writes out; resume is exact either way,
        it only restarts from an earlier epoch. Every rank calls it; rank 0 writes.
        """
        state = self.state_dict()  # a collective under DDP: every rank's random state
        if not self.world.main:
            self._best_saved, self._last_save = True, time.monotonic()
            return
        if not self._best_saved:
            best = {"model": self._best_state, "epoch": self.best_epoch, **self.extra_state}
            save_checkpoint(best, self.best_path)
            self._best_saved = True
        save_checkpoint(state, self.last_path)
        self._last_save = time.monotonic()

    def state_dict(self) -> dict[str, Any]:
        """Everything resume needs; under DDP, with each rank's random state (dropout
        draws differ by rank), which makes this a collective: every rank calls it."""
        ranks = self.world.gather_objects(rng_state())
        return {
            "ranks": {"world_size": self.world.size, "rng": ranks},
            "precision": self.precision.state_dict(),
            "model": self.model.state_dict(),
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers.items()},
            "schedulers": {k: sched.state_dict() for k, sched in self.schedulers.items()},
            "rng": rng_state(),
            "task": self.task.state_dict(),  # e.g. an EMA teacher
            "history": self.history.rows,
            "counters": {
                "epoch": self.epoch,
                "step": self.step,
                "best_val_loss": self.best_val_loss,
                "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs,
                "stopped_early": self.stopped_early,
                "train_time": self.train_time,
            },
            **self.extra_state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a ``last.pt``: weights, optimizer, scheduler, RNGs, counters."""
        self.model.load_state_dict(state["model"])
        if "optimizers" not in state:  # written before tasks could have several optimizers
            state = {**state, "optimizers": {"model": state["optimizer"]}}
            state["schedulers"] = {"model": state["scheduler"]}
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
            self.schedulers[name].load_state_dict(state["schedulers"][name])
        ranks = state.get("ranks", {"world_size": 1, "rng": [state["rng"]]})
        if ranks["world_size"] != self.world.size:
            raise ConfigError(
                f"resume=true with {self.world.size} rank(s), but the run was trained with "
                f"{ranks['world_size']}; resume with torchrun --nproc-per-node="
                f"{ranks['world_size']} (the random streams are per rank)"
            )
        set_rng_state(ranks["rng"][self.world.rank])
        self.task.load_state_dict(state.get("task", {}))
        self.precision.load_state_dict(state.get("precision", {}))
        self.history.restore(state.get("history", []))  # what came after it is dropped
        for key, value in state["counters"].items():
            setattr(self, key, value)

    # ------------------------------------------------------------------ testing

    def load_weights_for_test(self) -> str:
        """Put the weights chosen by ``test_checkpoint`` into the model; say which."""
        if self.cfg.test_checkpoint == "best":
            if self._best_state is not None:
                self.model.load_state_dict(self._best_state)
                return "best"
            if self.best_path.exists():  # a resumed run whose best epoch came before
                best = load_checkpoint(self.best_path, self.data.device)
                self.model.load_state_dict(best["model"])
                return "best"
        return "last"
