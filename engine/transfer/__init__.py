"""Transfer learning: where a model's weights start and what of it trains.

``python train.py model=cnn transfer=finetune transfer.from=<run dir or .pt>``

The ``transfer`` config group picks a strategy (:data:`STRATEGIES`), each a YAML of
the same keys (:class:`~engine.transfer.plan.TransferConfig`):

* ``none``: from scratch (the default);
* ``feature_extraction``: the source's backbone frozen, a new head trained;
* ``finetune``: everything trains, the backbone at ``backbone_lr_mult`` times the rate;
* ``gradual``: the head alone first, the backbone joining at ``unfreeze_at_epoch``.

:mod:`~engine.transfer.weights` loads the source by name, :mod:`~engine.transfer.layers`
names a model's layers and head, :mod:`~engine.transfer.plan` decides what trains at
which rate. :func:`prepare` is what ``engine/run.py`` calls.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from engine.transfer.layers import head_of, layer_of, layers, without_head
from engine.transfer.plan import Plan, TransferConfig
from engine.transfer.weights import LoadReport, Source, load_by_name, read_source, start_from

STRATEGIES = ("none", "feature_extraction", "finetune", "gradual")


def list_strategies() -> list[str]:
    """The ``transfer`` config group's options."""
    return sorted(STRATEGIES)


def probe_options(node: Any, model_node: Any) -> dict[str, Any]:
    """The transfer options of ``model=probe``: its ``head`` is the new part, and its
    ``freeze`` (default true) freezes everything else, as feature extraction does."""
    options = dict(node or {})
    options["head"] = "head"
    options["freeze_backbone"] = bool(model_node.get("freeze", True)) or bool(
        options.get("freeze_backbone")
    )
    return options


def prepare(
    node: Any,
    model: nn.Module,
    model_name: str,
    data: Any,
    max_epochs: int,
    resuming: bool,
) -> Plan | None:
    """Load the source into ``model`` (unless resuming: the checkpoint has the weights)
    and return the run's :class:`Plan`, applied for epoch 0; None when ``node`` asks
    for nothing (``transfer=none`` as it is), so such a run is exactly as before."""
    cfg = TransferConfig.of(node)
    cfg.check(max_epochs)
    if cfg == TransferConfig(name=cfg.name) and cfg.name == "none":
        return None
    plan = Plan(model, cfg)
    if cfg.source and not resuming:
        start_from(model, cfg.source, cfg.checkpoint, cfg.keep_head, model_name, data, plan.head)
    plan.apply(0)
    return plan


__all__ = [
    "STRATEGIES",
    "LoadReport",
    "Plan",
    "Source",
    "TransferConfig",
    "head_of",
    "layer_of",
    "layers",
    "list_strategies",
    "load_by_name",
    "prepare",
    "probe_options",
    "read_source",
    "start_from",
    "without_head",
]
