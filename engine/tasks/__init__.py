"""Tasks: how a batch becomes a loss and metrics, and (for some) how it trains.

``core`` holds :class:`Task`, the registry and what every task shares. Each other
module is one family of tasks, registered with ``@TASKS.register``: supervised
(classification, regression), embedding (metric learning) and generative
(adversarial, reconstruction). Every module in this folder is imported on first
use, so a new task is one new file here (and its YAML in ``configs/task/``).
"""

from engine.tasks.core import TASKS, Task, create_task, flatten_steps, list_tasks, outputs
from zoo.registry import import_submodules

import_submodules(__name__, __path__)

__all__ = ["TASKS", "Task", "create_task", "flatten_steps", "list_tasks", "outputs"]
