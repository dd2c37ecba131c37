"""What the entry points share: a clean one-line error for every mistake a user can make.

Hydra reports an unknown config option with several lines and a hint about
``HYDRA_FULL_ERROR``; the common case (``model=nonexistent``) is caught here first,
before Hydra starts, with one line that lists the options that exist.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from engine.errors import ZooError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
_PLAIN = re.compile(r"[A-Za-z0-9_\-]+")
log = logging.getLogger("engine")


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` as one line on stderr and exit non-zero."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def compose_config(overrides: Sequence[str] = (), config_name: str = "train") -> DictConfig:
    """The config ``python train.py <overrides>`` runs, composed in this process (no run
    directory, no hydra.* keys): for notebooks, benchmarks and tests."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name, overrides=list(overrides))


def group_options(group: str, config_dir: Path = CONFIG_DIR) -> list[str]:
    return sorted(p.stem for p in (config_dir / group).glob("*.yaml"))


def extra_config_dirs(args: Sequence[str]) -> list[Path]:
    """Folders added with ``--config-dir DIR`` / ``-cd DIR`` (their groups count too)."""
    dirs = []
    for i, arg in enumerate(args):
        if arg.startswith("--config-dir="):
            dirs.append(arg.split("=", 1)[1])
        elif arg in ("--config-dir", "-cd") and i + 1 < len(args):
            dirs.append(args[i + 1])
    return [Path(d) for d in dirs if Path(d).is_dir()]


def check_overrides(args: Sequence[str], config_dir: Path = CONFIG_DIR) -> None:
    """Reject ``group=option`` overrides naming an option that has no YAML file.

    Only plain values (and comma-separated sweeps of them) are checked; anything
    written in Hydra's richer grammar is left to Hydra.
    """
    dirs = [config_dir, *extra_config_dirs(args)]
    if any(a.startswith(("hydra.searchpath", "+hydra.searchpath")) for a in args):
        return  # options may come from anywhere: Hydra will say
    groups = {p.name for d in dirs for p in d.iterdir() if p.is_dir()}
    for arg in args:
        key, sep, value = arg.partition("=")
        key = key.lstrip("+")
        if arg.startswith("-") or not sep or key not in groups or value in ("", "null"):
            continue
        options = sorted({o for d in dirs for o in group_options(key, d)})
        for choice in value.split(","):
            if _PLAIN.fullmatch(choice) and choice not in options:
                fail(f"unknown {key} '{choice}'; available: {', '.join(options)}")


def add_pairings(args: Sequence[str], config_dir: Path = CONFIG_DIR) -> list[str]:
    """Complete ``group=option`` choices with the groups their YAML ``pairs_with``.

    A loss or task only fits some data: ``loss=huber`` on the default digits (a
    classification set) cannot train. Its YAML says what it pairs with
    (``pairs_with: {task: regression, data: diabetes}``), and those choices are
    added for every group the command line does not name itself. (Hydra's
    defaults list cannot express this: a config may only override groups listed
    before it, and data must come after loss so that a dataset can pick its loss.)
    """
    named = {a.partition("=")[0].lstrip("+") for a in args if "=" in a and not a.startswith("-")}
    if "experiment" in named:  # a recipe chooses its own pieces
        return list(args)
    added: list[str] = []
    for arg in args:
        group, sep, option = arg.partition("=")
        path = config_dir / group / f"{option}.yaml"
        if (
            arg.startswith(("-", "+"))
            or not sep
            or not _PLAIN.fullmatch(option)
            or not path.is_file()
        ):
            continue
        node = OmegaConf.load(path)
        if path.read_text().startswith("# @package _global_"):  # its own keys sit under group
            node = node.get(group) or {}
        for other, choice in (node.get("pairs_with") or {}).items():
            if other not in named:
                named.add(other)
                added.append(f"{other}={choice}")
    if added:
        print(f"(added {' '.join(added)}: what the chosen options pair with)", flush=True)
    # Right after the last override, so they stay one run of positional arguments
    # (after `--cfg job`, say, argparse would not take them).
    overrides = [i for i, a in enumerate(args) if "=" in a and not a.startswith("-")]
    at = overrides[-1] + 1 if overrides else len(args)
    return [*args[:at], *added, *args[at:]]


def report_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a :class:`ZooError` raised inside a run into one line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ZooError as e:
            log.debug("run failed", exc_info=True)  # the full story goes to the log file
            fail(str(e))
        except KeyboardInterrupt:
            fail("interrupted; continue with resume=true and the same hydra.run.dir", 130)

    return wrapper


def display_path(path: str | Path) -> str:
    """``path`` relative to the working directory when it is below it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def is_run(path: str | Path) -> bool:
    """Whether ``path`` is a run directory train.py wrote (it holds .hydra/config.yaml)."""
    return (Path(path) / ".hydra" / "config.yaml").is_file()


def check_is_run(path: str | Path) -> None:
    """Fail in one line, before Hydra starts (and writes into it), unless ``path`` is a run."""
    if not is_run(path):
        fail(f"{path} is not a run directory (no .hydra/config.yaml in it)")
