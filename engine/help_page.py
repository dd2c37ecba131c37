"""``python train.py --help``: every config group, what it chooses, and its options.

Hydra's help page is a template (configs/hydra/help/zoo.yaml) whose ``${zoo_groups:}``
this module fills: each group with one line saying what it chooses, then each of its
options with the first comment line of its YAML file, the line that says what the
option is. The page ends with the config the command line composes, so
``python train.py model=lstm --help`` shows that option's fields.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from omegaconf import OmegaConf

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"

# What each group of configs/ chooses (tests/test_help.py: every group has one).
GROUPS = {
    "task": "what is learned and measured: classification, regression, generative, "
    "self-supervised, few-shot ...",
    "loss": "the training objective (a dataset or task may pick its natural one)",
    "data": "the dataset, its split and scaling (data.root=~/data for downloads)",
    "model": "the network; its fields (hidden_size, num_layers, dropout ...) follow",
    "optim": "the optimizer and its learning rate (optim.lr)",
    "optim_d": "a GAN discriminator's optimizer (null: the same as optim)",
    "sched": "the learning-rate schedule over the steps",
    "init": "how the weights start",
    "regularization": "a weight penalty added to the loss",
    "augment": "what the training batches go through (augment=list says what each does)",
    "trainer": "epochs, batch size, early stopping, clipping, logging intervals",
    "transfer": "start from another run's weights (transfer.from=<run dir>) and what trains",
    "logger": "where the curves go: TensorBoard event files in the run directory, or none",
    "experiment": "a pinned recipe of several groups and values (configs/experiment/)",
    "hparams_search": "a hyperparameter search, run with -m",
}
WIDTH = 96


def first_comment(path: Path) -> str:
    """The first comment line of a YAML file that is not a ``@package`` directive."""
    for line in path.read_text().splitlines():
        text = line.strip()
        if not text.startswith("#"):
            if text:
                break
            continue
        text = text.lstrip("#").strip()
        if text and not text.startswith("@package"):
            return text
    return ""


def group_listing(config_dir: Path = CONFIG_DIR) -> str:
    """The groups section of the help page: ``group: what it chooses`` and an indented
    ``option  description`` line per option, groups in the order of :data:`GROUPS`."""
    lines = []
    found = sorted(p.name for p in config_dir.iterdir() if p.is_dir() and p.name != "hydra")
    for group in sorted(found, key=lambda g: (list(GROUPS).index(g) if g in GROUPS else 99, g)):
        lines.append(f"{group}: {GROUPS.get(group, '')}".rstrip(": "))
        options = sorted((config_dir / group).glob("*.yaml"))
        pad = max(len(p.stem) for p in options) + 2 if options else 0
        for path in options:
            text = textwrap.shorten(first_comment(path), WIDTH - pad - 4, placeholder=" ...")
            lines.append(f"    {path.stem:<{pad}}{text}".rstrip())
        lines.append("")
    return "\n".join(lines).rstrip().replace("$", "$$")  # the page is a string.Template


OmegaConf.register_new_resolver("zoo_groups", group_listing, replace=True)
