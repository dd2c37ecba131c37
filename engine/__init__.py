"""The shared machinery: data, tasks, trainer, checkpoints and logging.

The engine builds components (``zoo``, ``losses``, ``optimizers``) by registry name
from a config and never imports a concrete model. Entry points (``train.py``,
``evaluate.py``) only compose a config and hand it to :mod:`engine.run`.
"""

from engine.errors import CheckpointError, ConfigError, TrainingError, ZooError

__all__ = ["CheckpointError", "ConfigError", "TrainingError", "ZooError"]
