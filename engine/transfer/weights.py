"""Start a model from another run's weights, matched by name: ``transfer.from``.

The source is a run directory (its ``checkpoints/best.pt`` or ``last.pt``), a zoo
checkpoint file, or a plain state dict saved with ``torch.save(model.state_dict())``
(torchvision's published weights are in this format). Every tensor of the model whose
name and shape the source has is copied; the head (:func:`~engine.transfer.layers.head_of`)
is new unless ``keep_head`` is set, because new classes need a new head even when
their number is the source's (Yosinski et al. 2014, "How transferable are features in
deep neural networks?": the early layers are general, the last ones specific). The
run then prints one line saying which layers were loaded, which are new, and which
were skipped (present in the source with another shape).

Everything is read with ``weights_only=True``: a weights file cannot run code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from torch import nn

from engine.checkpoint import load_checkpoint
from engine.data import build_data
from engine.errors import ConfigError
from engine.transfer.layers import layer_of, within

log = logging.getLogger(__name__)


@dataclass
class Source:
    """Weights to start from, and what is known about the run that made them."""

    path: Path
    weights: dict[str, torch.Tensor]
    model_name: str | None = None  # None: a plain state dict, no run behind it
    input_shape: tuple[int, ...] | None = None
    class_names: list[str] | None = None


def read_source(source: str | Path, checkpoint: str = "best") -> Source:
    """The weights at ``source``: a run directory, a zoo checkpoint or a state dict."""
    path = Path(str(source))
    if path.is_dir():
        config = path / ".hydra" / "config.yaml"
        if not config.is_file():
            raise ConfigError(
                f"transfer.from={path} is a directory but not a run (no .hydra/config.yaml); "
                "give a run directory or a .pt file"
            )
        if checkpoint not in ("best", "last"):
            raise ConfigError(f"transfer.checkpoint must be best or last, got '{checkpoint}'")
        cfg = OmegaConf.load(config)
        state = load_checkpoint(path / "checkpoints" / f"{checkpoint}.pt")
        seed = cfg.get("data_seed")
        data = build_data(cfg.data, cfg.seed if seed is None else seed)  # CPU, for its shape
        names = state.get("class_names", data.class_names)
        return Source(path, state["model"], cfg.model.name, data.spec.input_shape, names)
    if not path.is_file():
        raise ConfigError(f"transfer.from={path}: no such run directory or file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch file, or one holding more than tensors
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise ConfigError(f"transfer.from={path} is not a weights file ({first})") from None
    if isinstance(state, dict) and "format_version" in state:  # a zoo checkpoint
        saved = state.get("config") or {}
        name = (saved.get("model") or {}).get("name")
        return Source(path, state["model"], name, None, state.get("class_names"))
    if (
        isinstance(state, dict)
        and state
        and all(isinstance(v, torch.Tensor) for v in state.values())
    ):
        return Source(path, state)  # e.g. torchvision's resnet18-f37072fd.pth
    raise ConfigError(
        f"transfer.from={path} holds neither a zoo checkpoint nor a state dict of tensors"
    )


@dataclass
class LoadReport:
    """What :func:`load_by_name` did, by parameter or buffer name."""

    loaded: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)  # the head, and names the source lacks
    skipped: list[str] = field(default_factory=list)  # in the source with another shape

    def line(self, source: Path) -> str:
        """One line, by layer: ``loaded 4 layers (hidden.0, ...); new: head; skipped: none``."""

        def show(names: list[str]) -> str:
            parts = list(dict.fromkeys(layer_of(n) for n in names))
            listed = ", ".join(parts[:6]) + (f", ... ({len(parts)} in all)" * (len(parts) > 6))
            return listed or "none"

        n = len(dict.fromkeys(layer_of(k) for k in self.loaded))
        return (
            f"transfer from {source}: loaded {n} layers ({show(self.loaded)}); "
            f"new: {show(self.new)}; skipped: {show(self.skipped)}"
        )


def check_source(source: Source, model_name: str, input_shape: tuple[int, ...]) -> None:
    """One line when the source is of another model or read inputs of another shape."""
    if source.model_name is not None and source.model_name != model_name:
        raise ConfigError(
            f"transfer.from={source.path} is a '{source.model_name}' run; its weights do not "
            f"fit model '{model_name}' (start a {source.model_name} from it: "
            f"model={source.model_name})"
        )
    if source.input_shape is not None and tuple(source.input_shape) != tuple(input_shape):
        raise ConfigError(
            f"transfer.from={source.path} was trained on inputs of shape "
            f"{tuple(source.input_shape)}; this run's data gives {tuple(input_shape)} "
            "(transfer between data of one input shape, e.g. digits to digits)"
        )


def load_by_name(
    model: nn.Module, source: Source, head: str, keep_head: bool = False
) -> LoadReport:
    """Copy every tensor of ``source`` whose name and shape ``model`` has; the head's
    only with ``keep_head``. Returns what was loaded, new and skipped."""
    report = LoadReport()
    own = model.state_dict()
    for name, value in own.items():
        theirs = source.weights.get(name)
        if (within(name, head) and not keep_head) or theirs is None:
            report.new.append(name)
        elif tuple(theirs.shape) != tuple(value.shape):
            if within(name, head):
                raise ConfigError(
                    f"transfer.keep_head=true but the source's head {name} has shape "
                    f"{tuple(theirs.shape)}, this run's {tuple(value.shape)} (other classes): "
                    "leave keep_head=false for a new head"
                )
            report.skipped.append(name)
        else:
            with torch.no_grad():
                value.copy_(theirs.to(value.dtype))
            report.loaded.append(name)
    params = dict(model.named_parameters())  # a batch count alone does not make a fit
    if not any(n in params and not within(n, head) for n in report.loaded):
        raise ConfigError(
            f"transfer.from={source.path}: no tensor of it fits this model by name and shape "
            f"(the model's first are {', '.join(list(own)[:3])}; the file's "
            f"{', '.join(list(source.weights)[:3])}); start from a run of the same model"
        )
    return report


def start_from(
    model: nn.Module,
    source_path: str,
    checkpoint: str,
    keep_head: bool,
    model_name: str,
    data: Any,
    head: str,
) -> LoadReport:
    """Read the source, check it fits this run's model and ``data`` (its DataModule),
    load it by name and log the one line."""
    source = read_source(source_path, checkpoint)
    check_source(source, model_name, data.spec.input_shape)
    class_names = data.class_names
    if keep_head and source.class_names and class_names and source.class_names != class_names:
        raise ConfigError(
            f"transfer.keep_head=true keeps a head for classes {source.class_names}; this "
            f"run's are {class_names} (leave keep_head=false: a new head for new classes)"
        )
    report = load_by_name(model, source, head, keep_head)
    log.info(report.line(source.path))
    return report
