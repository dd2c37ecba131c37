"""What trains, and at what rate: freezing, parameter groups and gradual unfreezing.

The recipes of the guide's transfer-learning section, as timm and fastai give them:

* **feature extraction**: the backbone is frozen and only the new head trains;
* **fine-tuning**: everything trains, the backbone at a lower rate,
  ``η_backbone = backbone_lr_mult · η``, and optionally with *layer-wise rate decay*
  (timm's ``layer_decay``; Clark et al. 2020, ELECTRA; Bao et al. 2022, BEiT): with
  L layers numbered 0 (input) .. L−1 (the head), layer ℓ trains at
  ``η_ℓ = η · mult_ℓ · decay^(L−1−ℓ)``, so the layers furthest from the head, the
  most general ones, move least;
* **gradual unfreezing** (Howard & Ruder 2018, ULMFiT; fastai's ``fine_tune``): the
  head trains alone for ``unfreeze_at_epoch`` epochs, so its random start cannot send
  large gradients into the backbone; then the backbone trains too, all at once, or
  one more layer every ``unfreeze_every`` epochs from the top.

A frozen parameter does not require gradients, and a permanently frozen one is not
given to the optimizer at all. A frozen module with running statistics (batch norm)
stays in eval mode, so they do not drift with the new data; the frozen weights and
buffers stay bit for bit as loaded. Parameters that gradual unfreezing will release
are in the optimizer from the start (an optimizer skips a parameter without a
gradient), so the optimizer and its schedule are one object through the unfreeze and
what trains at epoch e is a function of e alone: a resumed run continues exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn
from torch.utils.hooks import RemovableHandle

from engine.errors import ConfigError
from engine.transfer.layers import head_of, layer_of, layers, matched, within


@dataclass
class TransferConfig:
    """Mirrors ``configs/transfer/*.yaml`` field for field."""

    name: str = "none"
    # 'from' is a keyword in Python: the YAML's ``from`` is ``source`` here.
    source: str | None = None  # a run directory or a .pt file to start from; null = scratch
    checkpoint: str = "best"  # of a run directory: best | last
    keep_head: bool = False  # true: the source's head too (the same classes, same order)
    head: str = "auto"  # the head's module; auto = the module of the model's last parameter
    freeze: list[str] = field(default_factory=list)  # patterns of parameters that never train
    freeze_backbone: bool = False  # everything but the head starts frozen
    unfreeze_at_epoch: int | None = None  # with freeze_backbone: when the backbone joins
    unfreeze_every: int | None = None  # epochs between one more layer unfreezing; null = all
    backbone_lr_mult: float = 1.0  # η_backbone = backbone_lr_mult · η (the head's: η)
    layer_decay: float = 1.0  # η_ℓ = η · decay^(L−1−ℓ) (timm); 1 = the same for all

    @classmethod
    def of(cls, node: Any) -> TransferConfig:
        """From the ``transfer`` config node; one line for a key it does not have."""
        values = dict(node or {})
        values["source"] = values.pop("from", None)
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(values) - known)
        if unknown:
            keys = ", ".join("from" if k == "source" else k for k in sorted(known))
            raise ConfigError(f"transfer has no option {', '.join(unknown)}; it has {keys}")
        values["freeze"] = [str(p) for p in values.get("freeze") or []]
        return cls(**values)

    def check(self, max_epochs: int) -> None:
        """One line for each value that cannot work."""
        if self.name != "none" and not self.source:
            raise ConfigError(
                f"transfer={self.name} starts from trained weights: set transfer.from=<run "
                "directory or .pt file> (transfer=none trains from scratch)"
            )
        if not (isinstance(self.layer_decay, int | float) and 0 < self.layer_decay <= 1):
            raise ConfigError(
                f"transfer.layer_decay must be in (0, 1] (1 = no decay; timm uses 0.65-0.75), "
                f"got {self.layer_decay}"
            )
        if not (isinstance(self.backbone_lr_mult, int | float) and self.backbone_lr_mult > 0):
            raise ConfigError(
                f"transfer.backbone_lr_mult must be > 0 (1 = the head's rate), "
                f"got {self.backbone_lr_mult}; to stop the backbone training use "
                "transfer.freeze_backbone=true"
            )
        if self.unfreeze_at_epoch is not None:
            if not self.freeze_backbone:
                raise ConfigError(
                    "transfer.unfreeze_at_epoch releases a frozen backbone: set "
                    "transfer.freeze_backbone=true too (or use transfer=gradual)"
                )
            if not 1 <= self.unfreeze_at_epoch < max(max_epochs, 1):
                raise ConfigError(
                    f"transfer.unfreeze_at_epoch={self.unfreeze_at_epoch} is not within the "
                    f"{max_epochs} epochs of training (trainer.max_epochs); use 1 to "
                    f"{max_epochs - 1}, or null to keep the backbone frozen"
                )
        if self.unfreeze_every is not None and (
            self.unfreeze_at_epoch is None or self.unfreeze_every < 1
        ):
            raise ConfigError(
                f"transfer.unfreeze_every={self.unfreeze_every} must be >= 1 and goes with "
                "transfer.unfreeze_at_epoch (the epoch the first layer joins)"
            )


def _stay_in_eval(module: nn.Module, args: Any) -> None:
    """Forward pre-hook of a frozen module with running statistics: eval mode always."""
    module.training = False


class Plan:
    """Which parameters train at each epoch, and each layer's rate.

    Built once from the model and the ``transfer`` config: :meth:`param_groups` gives
    the optimizer its groups (``name`` = the layer, ``lr`` = its rate), and
    :meth:`apply` (called at the start of every epoch, by the trainer) sets
    ``requires_grad`` and the eval mode of frozen batch norm for that epoch.
    """

    def __init__(self, model: nn.Module, cfg: TransferConfig) -> None:
        self.model, self.cfg = model, cfg
        self.head = head_of(model, cfg.head)
        self.layers = layers(model)  # 0 (input) .. L-1
        named = dict(model.named_parameters())
        self.never = matched(model, cfg.freeze, "transfer.freeze") if cfg.freeze else set()
        head_params = {n for n in named if within(n, self.head)}
        if self.never & head_params:
            raise ConfigError(
                f"transfer.freeze {cfg.freeze} freezes the head ({self.head}), which is new; "
                "freeze backbone layers only"
            )
        # The backbone's layers that can train at some point, top (nearest the head) first.
        self.backbone = [
            layer
            for layer in reversed(self.layers)
            if any(layer_of(n) == layer and n not in self.never for n in named)
            and not any(within(n, self.head) for n in named if layer_of(n) == layer)
        ]
        self._hooks: dict[str, RemovableHandle] = {}

    def trainable_layers(self, epoch: int) -> set[str]:
        """The backbone layers that train in (0-based) ``epoch``."""
        cfg = self.cfg
        if not cfg.freeze_backbone:
            return set(self.backbone)
        start = cfg.unfreeze_at_epoch
        if start is None or epoch < start:
            return set()
        if cfg.unfreeze_every is None:
            return set(self.backbone)
        return set(self.backbone[: 1 + (epoch - start) // cfg.unfreeze_every])

    def trains(self, name: str, backbone: set[str]) -> bool:
        if name in self.never:
            return False
        return within(name, self.head) or layer_of(name) in backbone

    def apply(self, epoch: int) -> None:
        """``requires_grad`` of every parameter for ``epoch``; frozen batch norm in eval."""
        backbone = self.trainable_layers(epoch)
        for name, p in self.model.named_parameters():
            p.requires_grad_(self.trains(name, backbone))
        for name, module in self.model.named_modules():
            params = list(module.parameters(recurse=False))
            stats = any(b.startswith("running_") for b, _ in module.named_buffers(recurse=False))
            if not (params and stats):
                continue
            frozen = not any(p.requires_grad for p in params)
            if frozen and name not in self._hooks:
                self._hooks[name] = module.register_forward_pre_hook(_stay_in_eval)
                module.eval()
            elif not frozen and name in self._hooks:
                self._hooks.pop(name).remove()
                module.train(self.model.training)

    def rate_scale(self, layer: str) -> float:
        """mult_ℓ · decay^(L−1−ℓ): the head 1, the backbone's layers less."""
        if any(
            within(n, self.head) for n, _ in self.model.named_parameters() if layer_of(n) == layer
        ):
            return 1.0
        depth = len(self.layers) - 1 - self.layers.index(layer)  # layers above this one
        return self.cfg.backbone_lr_mult * self.cfg.layer_decay**depth

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """The optimizer's groups: one per layer of its own rate (one in all when every
        rate is η), without the parameters that never train in this run."""
        released = not self.cfg.freeze_backbone or self.cfg.unfreeze_at_epoch is not None
        ever = set(self.backbone) if released else set()
        groups: dict[str, dict[str, Any]] = {}
        for name, p in self.model.named_parameters():
            if not self.trains(name, ever):
                continue
            layer = layer_of(name)
            scale = self.rate_scale(layer)
            key = layer if self.cfg.layer_decay < 1 else ("head" if scale == 1.0 else "backbone")
            group = groups.setdefault(key, {"params": [], "lr": lr * scale, "name": key})
            group["params"].append(p)
        if len(groups) == 1 or all(g["lr"] == lr for g in groups.values()):
            return [{"params": [p for g in groups.values() for p in g["params"]]}]
        return list(groups.values())
