"""What a resumed run is configured with: the run's own config, changed only where the
resume call says so explicitly, and only in keys that may change.

    python train.py hydra.run.dir=D resume=true                        # as it was
    python train.py hydra.run.dir=D resume=true trainer.max_epochs=20  # one change

A resume continues the run as it was configured. The defaults of the resume call play
no part: a run started with ``trainer.max_epochs=6`` resumes with 6, not the default
60. Each key the call names (``trainer.max_epochs=20``, or a group, ``model=lstm``,
for every key of it) is taken from the call when it is in ``RESUMABLE_CHANGES``;
naming any other key is refused unless its value is the run's own (repeating the run's
overrides is allowed). The run's ``.hydra/config.yaml`` stays as it was; each resume's
changes are appended to ``.hydra/resumes.yaml`` beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from engine.errors import ConfigError

# Keys that may change when a run is resumed (the rest must match the checkpoint).
RESUMABLE_CHANGES = (
    "resume",
    "device",
    "objective",
    "trainer.compile",  # a compiled run resumes uncompiled and back: same parameter names
    "trainer.max_epochs",
    "trainer.progress_bar",
    "trainer.checkpoint_interval_s",
    "trainer.log_every_n_steps",
    "trainer.histogram_every_n_steps",
    "logger.flush_secs",
)


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}} -> {"a.b": 1}`` (for the HPARAMS table and config diffs)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def explicit_keys(overrides: Sequence[str]) -> list[str]:
    """The keys (or groups) a command line sets: ``trainer.max_epochs=5 +x=1 model=lstm``
    -> ``trainer.max_epochs, x, model``."""
    return [o.partition("=")[0].lstrip("+~") for o in overrides if "=" in o]


def _named_by(key: str, explicit: Sequence[str]) -> bool:
    return any(key == k or key.startswith(f"{k}.") for k in explicit)


def resumed_config(
    saved: dict[str, Any], current: DictConfig, explicit: Sequence[str] | None, where: Path
) -> tuple[DictConfig, dict[str, tuple[Any, Any]]]:
    """The config a resume trains with, and what it changes: ``{key: (old, new)}``.

    Args:
        saved: the run's resolved config, as its last checkpoint holds it.
        current: the config the resume call composed (its defaults included).
        explicit: the keys the call named (:func:`explicit_keys`); None when the call
            gave a whole config (from Python): then every key of ``current`` counts.
        where: the checkpoint, for messages.

    Raises:
        ConfigError: the call changes a key that must stay as the run had it.
    """
    old = flatten(saved)
    new = flatten(OmegaConf.to_container(current, resolve=True))
    named = list(new) if explicit is None else list(explicit)
    keys = [k for k in sorted(old.keys() | new.keys()) if _named_by(k, named)]
    changed = [k for k in keys if old.get(k) != new.get(k)]
    refused = [k for k in changed if k not in RESUMABLE_CHANGES]
    if refused:
        shown = ", ".join(_shown(refused, old, new)[:4])
        allowed = ", ".join(k for k in RESUMABLE_CHANGES if k != "resume")
        raise ConfigError(
            f"resume=true changes what the run in {where.parent.parent} was trained with: "
            f"{shown}; a resume continues the run as it was configured (leave those out; "
            f"it may change only {allowed})"
        )
    cfg = OmegaConf.create(saved)
    for key in changed:
        OmegaConf.update(cfg, key, new.get(key), force_add=True)
    cfg.resume = True
    return cfg, {k: (old.get(k), new.get(k)) for k in changed if k != "resume"}


def _shown(keys: list[str], old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``seed=0->1``; a group chosen otherwise as one: ``optim='adam'->'sgd'``."""
    groups = [k.rpartition(".")[0] for k in keys if k.endswith(".name")]
    kept = [k for k in keys if k.endswith(".name") or not _named_by(k, groups)]
    return [
        f"{k.removesuffix('.name') if k.endswith('.name') else k}={old.get(k)!r}->{new.get(k)!r}"
        for k in kept
    ]


def describe(changes: dict[str, tuple[Any, Any]]) -> str:
    """The one line a resume prints about its config."""
    if not changes:
        return "resuming with the run's own config (no changes)"
    shown = ", ".join(f"{k}={new!r} (was {old!r})" for k, (old, new) in changes.items())
    return f"resuming with the run's own config, changed: {shown}"


def record(changes: dict[str, tuple[Any, Any]], run_dir: Path, epoch: int, step: int) -> None:
    """Append this resume's changes to ``<run_dir>/.hydra/resumes.yaml`` (the run's
    config.yaml stays as it was)."""
    path = Path(run_dir) / ".hydra" / "resumes.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "after_epoch": epoch,
        "after_step": step,
        "changed": {k: {"was": old, "now": new} for k, (old, new) in changes.items()},
    }
    with path.open("a") as f:
        f.write(yaml.safe_dump([entry], sort_keys=False))
