"""Config in, run directory out: what ``train.py`` and ``evaluate.py`` call.

    config -> DataModule (split, scaled, DataSpec) -> loss -> task (checks the three
    fit, sizes the head) -> model(DataSpec) -> initializer -> optimizer + scheduler
    -> Trainer.fit -> test metrics -> metrics.json, TensorBoard, checkpoints/

Every component is built by registry name, so adding a model, loss, optimizer,
dataset or task means adding its file and its YAML, nothing here.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

import losses
import optimizers
import zoo
from engine import transfer
from engine.augmentation import build_augment_of, log_augmented
from engine.checkpoint import load_checkpoint, rng_state, set_rng_state
from engine.data import DataModule, build_data, call_model, datasets_of_kind
from engine.distributed import World, rank_device
from engine.errors import CheckpointError, ConfigError
from engine.logger import create_logger
from engine.logger_hparams import chosen_keys
from engine.pruning import pruning_hook
from engine.report.pictures import log_model_pictures
from engine.resuming import describe, flatten, record, resumed_config
from engine.tasks import Task, create_task
from engine.trainer import Trainer, TrainerConfig

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; anything else is taken as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device '{name}' is not a device; use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name} but CUDA is not available here; use device=auto or cpu")
    return device


def seed_everything(
    seed: int, deterministic: bool = True, device: torch.device | None = None
) -> None:
    """Seed every generator a run touches; on CUDA, also ask for deterministic kernels.

    The CPU kernels a run uses here give the same bits for the same inputs and thread
    count, which the reproducibility tests check. PyTorch's deterministic switch
    matters for CUDA (atomics-based kernels), and turning it on costs about a second
    of imports, so it is only thrown for a CUDA device.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic and device is not None and device.type == "cuda":
        # cuBLAS needs this workspace setting to be deterministic (PyTorch's notes).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


# Keys of a component's YAML that describe the option rather than configure it.
META_KEYS = ("name", "pairs_with")


def kwargs_of(node: Any) -> dict[str, Any]:
    """A component's YAML node as keyword arguments (all but ``name``, ``pairs_with``)."""
    kwargs = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    return {k: v for k, v in dict(kwargs or {}).items() if k not in META_KEYS}


def create(group: str, factory: Callable[..., Any], node: Any, *args: Any, **extra: Any) -> Any:
    """Build ``node.name`` with ``factory``; turn component errors into one line."""
    name = node.name
    try:
        return factory(name, *args, **kwargs_of(node), **extra)
    except zoo.UnknownNameError as e:
        raise ConfigError(str(e)) from None
    except zoo.IncompatibleDataError:
        raise
    except (TypeError, ValueError) as e:  # an option it does not take, a value it rejects
        raise ConfigError(f"{group} '{name}': {e}") from None
    except OSError as e:  # what it needed from outside failed (e.g. a download, offline)
        raise ConfigError(str(e)) from None


def create_schedule(
    node: DictConfig, optimizer: Any, trainer_cfg: TrainerConfig, steps_per_epoch: int
) -> Any:
    """The schedule over the run's steps, T = trainer.max_epochs × the steps of an epoch;
    a schedule that T is too short for says what T is made of."""
    limit = trainer_cfg.limit_train_batches
    made_of = (
        f"this run's total_steps: trainer.max_epochs={trainer_cfg.max_epochs} x "
        f"{steps_per_epoch} steps an epoch"
        + (f", trainer.limit_train_batches={limit}" if limit is not None else "")
    )

    def scheduler(name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return optimizers.create_scheduler(name, *args, **kwargs)
        except optimizers.TooFewStepsError as e:
            raise optimizers.TooFewStepsError(f"{e} ({made_of})") from None

    total_steps = max(1, steps_per_epoch * trainer_cfg.max_epochs)
    return create("sched", scheduler, node, optimizer,
                  total_steps=total_steps, steps_per_epoch=steps_per_epoch)  # fmt: skip


def data_seed(cfg: DictConfig) -> int:
    """The seed of the data split and generated data: ``data_seed``, else ``seed``."""
    value = cfg.get("data_seed")
    return cfg.seed if value is None else value


@dataclass
class Built:
    data: DataModule
    task: Task
    loss_fn: nn.Module
    model: nn.Module


def build(cfg: DictConfig, device: torch.device, stats: dict | None = None) -> Built:
    """Data, loss, task and model from a composed config, checked to fit together."""
    data = build_data(cfg.data, data_seed(cfg), device, stats)
    loss_fn = create("loss", losses.create_loss, cfg.loss)
    task = create("task", create_task, cfg.task)
    if cfg.get("optim_d") is not None and "optim_d" not in task.optimizer_configs:
        choice = cfg.optim_d.get("name", "...")
        raise ConfigError(
            f"optim_d={choice} sets a GAN discriminator's optimizer; task '{task.name}' "
            f"trains with optim alone (use optim={choice}, or model=gan task=adversarial)"
        )
    out_features = task.configure(data.spec, cfg.data.name, loss_fn, cfg.loss.name)
    task.bind(data)
    data.map_targets(task.encode_targets)
    extra = backbone_of(cfg, device) if cfg.model.get("run") else {}
    try:
        spec = task.model_spec(data.spec, cfg.model.name)
        model = create(
            "model", zoo.create_model, cfg.model, spec, out_features=out_features, **extra
        )
    except zoo.IncompatibleDataError as e:
        kinds = zoo.model_input_kinds(cfg.model.name)
        if data.spec.input_kind not in kinds:  # else the kind fits and the message says what
            fitting = datasets_of_kind(*kinds)
            hint = f"data that fits: {', '.join(fitting)}" if fitting else "no dataset here fits it"
            raise ConfigError(f"{e}; {hint}") from None
        raise ConfigError(str(e)) from None
    task.check_model(model, cfg.model.name)
    # The initializer must not touch the weights a trained run supplied.
    kept = {k: v.clone() for k, v in extra["backbone"].state_dict().items()} if extra else None
    create("init", lambda name, m, **kw: zoo.apply_initializer(m, name, **kw), cfg.init, model)
    if kept is not None:
        model.backbone.load_state_dict(kept)
    return Built(data, task, loss_fn.to(device), model.to(device))


def differing(a: dict[str, Any], b: dict[str, Any], ignore: tuple[str, ...] = ()) -> list[str]:
    """The keys of two flat configs whose values differ (either may lack a key), sorted."""
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k) and k not in ignore)


def data_difference(a: DictConfig, b: DictConfig, ignore: tuple[str, ...] = ()) -> str | None:
    """How two runs' data differ (``data.scale='minmax' there, 'standard' here``), or
    None when they have the same data config and data seed: the same split. Keys in
    ``ignore`` may differ (``data.labels_per_class`` keeps val and test as they are)."""
    flat_a = flatten({"data": OmegaConf.to_container(a.data, resolve=True)})
    flat_b = flatten({"data": OmegaConf.to_container(b.data, resolve=True)})
    shown = [
        f"{k}={flat_a.get(k)!r} there, {flat_b.get(k)!r} here"
        for k in differing(flat_a, flat_b, ignore)[:3]
    ]
    if data_seed(a) != data_seed(b):
        shown.append(f"data seed {data_seed(a)} there, {data_seed(b)} here")
    return ", ".join(shown) or None


def load_other_run(run_dir: Path, checkpoint: str, device: torch.device) -> tuple[Any, ...]:
    """:func:`load_run` of a run this one builds on (a teacher, an encoder), leaving
    this run's random state as it was: its own seed still decides its weights."""
    state = rng_state()
    try:
        return load_run(run_dir, checkpoint, device)
    finally:
        set_rng_state(state)


# Tasks whose model ends in a linear head over features: any such run is an encoder.
HEADED_TASKS = ("classification", "regression")


def backbone_of(cfg: DictConfig, device: torch.device) -> dict[str, Any]:
    """A model built on another run's (``model.run``, e.g. ``model=probe``): that run's
    encoder as ``backbone`` and its ``latent_size``, checked to read the same data.

    The encoder is an autoencoder's or VAE's ``feature_extractor()``, or any classifier
    or regressor with its head taken off (:func:`engine.transfer.without_head`): the
    features its head read. The probe then trains under the run's transfer plan.
    """
    run_dir = Path(str(cfg.model.run))
    source_cfg, source, _ = load_other_run(run_dir, cfg.model.get("checkpoint", "best"), device)
    if "feature_extractor" in zoo.model_capabilities(source_cfg.model.name):
        backbone, latent_size = source.model.feature_extractor(), source.model.latent_size
    elif source_cfg.task.name in HEADED_TASKS:
        backbone, latent_size = transfer.without_head(source.model)
    else:
        encoders = " or ".join(zoo.models_with("feature_extractor"))
        raise ConfigError(
            f"model.run={run_dir} is a '{source_cfg.model.name}' run of task "
            f"'{source_cfg.task.name}'; model '{cfg.model.name}' needs the encoder of a "
            f"classifier or regressor run, or of a run of model {encoders}"
        )
    # The same split: labels_per_class leaves val and test as they are.
    differ = data_difference(source_cfg, cfg, ignore=("data.labels_per_class",))
    if differ:
        raise ConfigError(
            f"model.run={run_dir} was trained on other data ({differ}); train "
            f"'{cfg.model.name}' on the same data, scaling and split, so its inputs look like "
            "the encoder's and its test split is one the encoder never saw"
        )
    return {"backbone": backbone, "latent_size": latent_size}


def write_json(data: dict[str, Any], path: Path) -> None:
    """Write JSON atomically (temp file, then rename), like checkpoints."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


@torch.no_grad()
def distill_from(teacher_dir: Path, cfg: DictConfig, data: DataModule, device) -> None:
    """Knowledge distillation (Hinton et al. 2015): train on a teacher's logits.

    The training split's targets become the logits a saved run's model gives for
    the same inputs; the student's loss (kl, with a temperature T) pulls its
    softened distribution toward the teacher's. Validation and test keep the true
    labels, so early stopping and the reported metrics measure the real task
    (``train/accuracy`` is then agreement with the teacher).
    """
    teacher_cfg, teacher, _ = load_other_run(teacher_dir, "best", device)
    differ = data_difference(teacher_cfg, cfg)
    if differ:
        raise ConfigError(
            f"task.teacher_run {teacher_dir} was trained on other data ({differ}); distill on "
            "the same data and seed, so the student's test split is one the teacher never saw"
        )
    if cfg.loss.name != "kl" or cfg.loss.get("target_kind") != "logits":
        raise ConfigError(
            "task.teacher_run trains on the teacher's logits: use loss=kl "
            "loss.target_kind=logits (and a loss.temperature such as 4)"
        )
    x, _ = data.splits["train"]
    teacher.model.eval()
    logits = torch.cat([call_model(teacher.model, xb) for xb, _ in data.batches("train", 4096)])
    if logits.shape[1] != data.spec.num_classes:
        raise ConfigError(
            f"task.teacher_run {teacher_dir} gives {logits.shape[1]} outputs per sample; "
            f"distillation needs one per class ({data.spec.num_classes})"
        )
    data.splits["train"] = (x, logits)


def make_trainer(cfg: DictConfig, run_dir: str | Path) -> tuple[Trainer, Built]:
    """Everything :func:`train` needs, resumed from ``last.pt`` when ``cfg.resume``."""
    run_dir = Path(run_dir)
    device = rank_device(resolve_device(cfg.device))
    seed_everything(cfg.seed, cfg.deterministic, device)
    trainer_kwargs = kwargs_of(cfg.trainer)
    options = [f.name for f in fields(TrainerConfig)]
    unknown = sorted(set(trainer_kwargs) - set(options))
    if unknown:
        raise ConfigError(
            f"trainer has no option {', '.join(unknown)}; it has {', '.join(options)}"
        )
    trainer_cfg = TrainerConfig(**trainer_kwargs)
    world = World.from_config(trainer_cfg.strategy, device)
    built = build(cfg, device)
    model, data = built.model, built.data
    if trainer_cfg.tbptt_window is not None and data.lengths is not None:
        raise ConfigError(
            "trainer.tbptt_window does not take padded sequences of different lengths; "
            "use full BPTT (trainer.tbptt_window=null) or data of one length"
        )
    # Truncated BPTT carries a recurrent state from window to window (forward_window).
    capabilities = zoo.model_capabilities(cfg.model.name)
    if trainer_cfg.tbptt_window is not None and (
        "forward_window" not in capabilities or model.bidirectional
    ):
        raise ConfigError(
            f"trainer.tbptt_window needs a unidirectional recurrent model, not model "
            f"'{cfg.model.name}'{' with bidirectional=true' * bool(cfg.model.get('bidirectional'))}"
            f"; use model={' or '.join(zoo.models_with('forward_window'))} "
            "(bidirectional=false), or trainer.tbptt_window=null"
        )
    if cfg.task.get("teacher_run"):
        distill_from(Path(cfg.task.teacher_run), cfg, data, device)

    steps_per_epoch = trainer_cfg.steps_taken(
        built.task.steps_per_epoch(data, trainer_cfg.batch_size)
    )
    groups = built.task.optimizer_groups(model)
    node = cfg.get("transfer")
    if cfg.model.get("run"):  # model=probe: another run's encoder, frozen by the same plan
        node = transfer.probe_options(node, cfg.model)
    plan = transfer.prepare(node, model, cfg.model.name, data, trainer_cfg.max_epochs, cfg.resume)
    if plan is not None and len(groups) > 1:
        raise ConfigError(
            f"transfer trains one network; task '{built.task.name}' trains {len(groups)} "
            f"({', '.join(groups)}): use transfer=none"
        )
    if cfg.sched.name == "plateau" and len(groups) > 1:
        raise ConfigError(
            f"sched=plateau watches the one training loss; task '{built.task.name}' trains "
            f"{len(groups)} networks ({', '.join(groups)}) with losses of their own: use a "
            "schedule that follows the steps (sched=constant, linear, cosine, ...)"
        )
    pack = model.pack if "discriminate" in capabilities else 1  # PacGAN: D judges m at once
    if trainer_cfg.batch_size < pack:
        raise ConfigError(
            f"trainer.batch_size={trainer_cfg.batch_size} is smaller than model.pack={pack}: "
            f"the discriminator would never see a whole pack; use a batch size that is a "
            f"multiple of {pack}"
        )
    optims, scheds = {}, {}
    for part, (params, group) in groups.items():
        node = cfg.get(group) or cfg.optim  # optim_d: null = the same optimizer as optim
        if "name" not in node:  # +optim_d.lr=...: optim's choice with these values changed
            node = OmegaConf.merge(cfg.optim, node)
        trained = [p for p in params if p.requires_grad]  # not a frozen backbone
        if plan is not None:  # one group per rate: backbone_lr_mult, layer_decay
            trained = plan.param_groups(node.lr)
        optims[part] = create(group, optimizers.create_optimizer, node, trained)
        scheds[part] = create_schedule(cfg.sched, optims[part], trainer_cfg, steps_per_epoch)
    pipeline = build_augment_of(cfg.get("augment"), data, built.task, cfg.loss.name)
    if built.task.needs_views and not pipeline:
        raise ConfigError(
            f"task '{built.task.name}' compares two augmented views of each input; with "
            "augment=none both views are the input itself: use augment=light or strong"
        )
    regularizer = create("regularization", zoo.create_regularizer, cfg.regularization)
    if regularizer is not None and not built.task.takes_penalty:
        raise ConfigError(
            f"task '{built.task.name}' does not add a weight penalty to its losses; use "
            "regularization=none and the optimizers' weight decay (e.g. optim.weight_decay=1e-4 "
            "optim_d=adam optim_d.weight_decay=1e-4)"
        )
    config = OmegaConf.to_container(cfg, resolve=True)

    last = run_dir / "checkpoints" / "last.pt"
    for stale in last.parent.glob(".*.tmp") if world.main else ():  # a write a kill
        stale.unlink()  # interrupted (never renamed)
    state = None
    if cfg.resume:
        if not last.exists():
            raise ConfigError(
                f"resume=true but there is no {last}; point hydra.run.dir at an interrupted "
                "run, or leave out resume=true to start a new one"
            )
        state = load_checkpoint(last, device)
        resumed_config(state.get("config", {}), cfg, None, last)  # refuses other configs
    elif last.exists():
        raise ConfigError(
            f"{run_dir} already holds a run; add resume=true to continue it, "
            "or pick another hydra.run.dir (nothing was overwritten)"
        )

    logger = create(
        "logger",
        create_logger,
        cfg.logger
        if world.main
        else OmegaConf.create({"name": "none"}),  # one set of events: rank 0's
        run_dir,
        # A resumed run drops whatever the interrupted one logged after its checkpoint.
        purge_step=None if state is None else state["counters"]["step"] + 1,
    )
    trainer = Trainer(
        trainer_cfg,
        model=model,
        task=built.task,
        loss_fn=built.loss_fn,
        optimizers=optims,
        schedulers=scheds,
        regularizer=regularizer,
        data=data,
        logger=logger,
        checkpoint_dir=last.parent,
        seed=cfg.seed,
        extra_state={"config": config, "data_stats": data.stats, "class_names": data.class_names},
        augment=pipeline,
        world=world,
    )
    if cfg.get("trial"):  # a trial of an Optuna search that prunes (engine/pruning.py)
        trainer.val_hooks.append(pruning_hook(cfg.trial, cfg.objective))
    if plan is not None:
        trainer.epoch_hooks.append(plan.apply)  # what trains in each epoch (gradual unfreezing)
    if state is not None:
        trainer.load_state_dict(state)
        log.info(f"resumed from {last} after epoch {trainer.epoch} (step {trainer.step})")
    return trainer, built


def config_to_resume(
    cfg: DictConfig, run_dir: Path, explicit: list[str] | None
) -> tuple[DictConfig, dict[str, tuple[Any, Any]]]:
    """With ``resume=true``: the run's own config (from its last checkpoint) with the
    changes ``explicit`` names (:mod:`engine.resuming`), and those changes."""
    last = run_dir / "checkpoints" / "last.pt"
    if not cfg.resume or not last.exists():
        return cfg, {}  # make_trainer says what is wrong, if anything
    saved = load_checkpoint(last, torch.device("cpu")).get("config", {})
    cfg, changes = resumed_config(saved, cfg, explicit, last)
    log.info(describe(changes))
    return cfg, changes


def train(
    cfg: DictConfig, run_dir: str | Path, explicit: list[str] | None = None
) -> dict[str, Any]:
    """Train as ``cfg`` says, writing checkpoints, logs and metrics.json to ``run_dir``.

    With ``resume=true`` the run continues as it was configured: ``explicit`` lists the
    keys the command line named (:func:`engine.resuming.explicit_keys`), the only ones a
    resume takes from ``cfg``; None takes every key of ``cfg`` (a config from Python).
    """
    cfg, changes = config_to_resume(cfg, Path(run_dir), explicit)
    trainer, built = make_trainer(cfg, run_dir)
    if cfg.resume:
        record(changes, Path(run_dir), trainer.epoch, trainer.step)
    model, data, logger = built.model, built.data, trainer.logger
    try:
        if trainer.step == 0 and data.spec.input_kind != "graph":  # PyG inputs do not trace
            # The model's graph, once per run (GRAPHS tab), traced on two samples.
            logger.graph(model, built.task.example_input(data))
            log_augmented(trainer.augment, data, logger, 0)  # what the model is fed
        summary = trainer.fit()
        tested = trainer.load_weights_for_test()
        val = built.task.evaluate(model, built.loss_fn, data, "val")
        test = built.task.evaluate(model, built.loss_fn, data, "test")
        baseline = built.task.baseline(data, "test")  # what a trivial predictor scores
        if baseline is not None:
            logger.scalars({f"baseline/{k}": v for k, v in baseline[1].items()}, trainer.step)
        if logger.draws:  # not worth a pass over the test split when nothing is kept
            built.task.after_test(model, data, logger, trainer.step)  # e.g. embeddings
            log_model_pictures(model, cfg.model.name, data, logger, trainer.step)
        # The config next to the final metrics (HPARAMS tab); also logs their scalars.
        hparams = flatten({k: v for k, v in trainer.extra_state["config"].items() if k != "resume"})
        final = {f"test/{k}": v for k, v in test.items()}
        final |= {f"val_final/{k}": v for k, v in val.items()}  # the same weights on val
        logger.hparams(hparams, final, trainer.step, chosen_keys(hparams, explicit))
    finally:
        logger.close()
    metrics = {"test": test, "val": val, "test_checkpoint": tested, **summary}
    if baseline is not None:
        metrics["baseline"] = {"predictor": baseline[0], "test": baseline[1]}
    if built.task.units():
        metrics["units"] = built.task.units()
    if trainer.world.main:
        write_json(metrics, Path(run_dir) / "metrics.json")
    return metrics


def _check_same_model(state: dict[str, Any], cfg: DictConfig, path: Path) -> None:
    """One line when a checkpoint holds another model than the run's (by its saved config)."""
    saved = (state.get("config") or {}).get("model")
    if not saved:
        return
    mine = OmegaConf.to_container(cfg.model, resolve=True)
    if saved.get("name") != mine.get("name"):
        raise CheckpointError(
            f"{path} holds a '{saved.get('name')}' model, not this run's '{mine.get('name')}'; "
            f"give a checkpoint of a {mine.get('name')} run, or checkpoint=best|last"
        )
    differ = differing(saved, mine)
    if differ:
        shown = ", ".join(f"{k}={saved.get(k)!r} there, {mine.get(k)!r} here" for k in differ[:3])
        raise CheckpointError(
            f"{path} holds a {mine.get('name')} of another shape ({shown}); give a checkpoint "
            "of a run with the same model options, or checkpoint=best|last"
        )


def save_config(cfg: DictConfig, run_dir: str | Path) -> None:
    """Write ``run_dir/.hydra/config.yaml`` as Hydra does for train.py: what
    :func:`load_run` rebuilds a run from (for runs started from Python, not the CLI)."""
    (Path(run_dir) / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, Path(run_dir) / ".hydra" / "config.yaml")


def load_run(
    run_dir: str | Path, checkpoint: str = "best", device: torch.device | None = None
) -> tuple[DictConfig, Built, dict[str, Any]]:
    """A run's config, data and model with its weights, from its directory alone.

    ``checkpoint`` is ``best`` or ``last`` of the run, or the path of a ``.pt`` file
    (weights of the same model trained elsewhere, say a copy of an earlier best.pt).
    """
    run_dir = Path(run_dir)
    config_path = run_dir / ".hydra" / "config.yaml"
    if not config_path.is_file():
        raise ConfigError(f"{run_dir} is not a run directory (no .hydra/config.yaml)")
    if checkpoint in ("best", "last"):
        ckpt_path = run_dir / "checkpoints" / f"{checkpoint}.pt"
    elif str(checkpoint).endswith(".pt"):
        ckpt_path = Path(checkpoint)
    else:
        raise ConfigError(f"checkpoint must be best, last or a .pt file, got '{checkpoint}'")
    cfg = OmegaConf.load(config_path)
    device = device or resolve_device("auto")
    state = load_checkpoint(ckpt_path, device)
    _check_same_model(state, cfg, ckpt_path)
    seed_everything(cfg.seed, cfg.deterministic, device)
    built = build(cfg, device, stats=state.get("data_stats"))
    try:
        built.model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as e:
        first = str(e).strip().splitlines()[0]
        raise CheckpointError(f"{ckpt_path} does not fit the run's model: {first}") from None
    return cfg, built, state
