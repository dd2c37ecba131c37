"""What the entry points share: a clean one-line error for every mistake a user can make.

Hydra reports an unknown config option or key with six lines and a hint about
``HYDRA_FULL_ERROR``. Both are caught here first, before Hydra starts, with one line
that names the closest options or keys (``model=LSTM``: "did you mean lstm?";
``trainer.epochs=5``: "did you mean trainer.max_epochs?") and exit status 2.

Once Hydra has started, a :class:`ZooError` is one line too, and the run directory
it leaves nearly empty (``.hydra/`` and the log) is removed. In a ``-m`` sweep a
failing job does not stop the others: the sweep ends with one line per failed job.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

import engine.help_page  # noqa: F401  registers ${zoo_groups:}, the --help page's groups
from engine.errors import ZooError, error_line

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
_PLAIN = re.compile(r"[A-Za-z0-9_\-]+")
log = logging.getLogger("engine")


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` as one line on stderr and exit non-zero."""
    print(error_line(message), file=sys.stderr, flush=True)
    raise SystemExit(code)


def compose_config(overrides: Sequence[str] = (), config_name: str = "train") -> DictConfig:
    """The config ``python train.py <overrides>`` runs, composed in this process (no run
    directory, no hydra.* keys): for notebooks, benchmarks and tests."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name, overrides=list(overrides))


def config_groups(*config_dirs: Path) -> set[str]:
    """The config groups of these config folders (default: the project's): their
    sub-folders, ``model``, ``data``, ..."""
    return {p.name for d in config_dirs or (CONFIG_DIR,) for p in d.iterdir() if p.is_dir()}


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


# ----------------------------------------------------------------------------- before Hydra


def quote_values(args: Sequence[str]) -> list[str]:
    """Quote the values Hydra's override grammar cannot read as typed, so paths work as
    a shell user types them: ``data.root=~/data`` becomes ``data.root='~/data'``.

    Only a value Hydra rejects is touched, and only when quoting makes it readable; one
    that quoting does not help (an unbalanced bracket, say) fails in one line.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()

    def readable(line: str) -> bool:
        try:
            parser.parse_overrides([line])
        except Exception:
            return False
        return True

    quoted = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if arg.startswith("-") or not sep or readable(arg):
            quoted.append(arg)
            continue
        fixed = f"{key}='{value}'" if "'" not in value else f'{key}="{value}"'
        if not readable(fixed):
            fail(
                f"cannot read the override {arg!r} (Hydra's grammar); quote its value for "
                f"the shell and Hydra: '{key}=\"{value}\"', or see "
                "https://hydra.cc/docs/advanced/override_grammar/basic/"
            )
        quoted.append(fixed)
    return quoted


_HOME = re.compile(r"(?<=[=\[,'\"])~(?=[/,\]'\"]|$)")  # a ~ that starts a path


def expand_home(args: Sequence[str], keys: Iterable[str]) -> list[str]:
    """``run_dir=~/runs/x`` -> ``run_dir=/home/me/runs/x`` for the path-valued ``keys``
    (lists too: ``run_dirs=[~/a,~/b]``), as bash expands ``name=~`` only for names
    without dots and not under sh or in quotes; Hydra would get the ``~`` verbatim."""
    home = os.path.expanduser("~")
    out = []
    for arg in args:
        key, sep, _ = arg.partition("=")
        out.append(_HOME.sub(home, arg) if sep and key.lstrip("+") in keys else arg)
    return out


def check_overrides(args: Sequence[str], config_dir: Path = CONFIG_DIR) -> None:
    """Reject ``group=option`` overrides naming an option that has no YAML file.

    Only plain values (and comma-separated sweeps of them) are checked; anything
    written in Hydra's richer grammar is left to Hydra.
    """
    dirs = [config_dir, *extra_config_dirs(args)]
    if any(a.startswith(("hydra.searchpath", "+hydra.searchpath")) for a in args):
        return  # options may come from anywhere: Hydra will say
    groups = config_groups(*dirs)
    for arg in args:
        key, sep, value = arg.partition("=")
        key = key.lstrip("+")
        if arg.startswith("-") or not sep or key not in groups or value in ("", "null"):
            continue
        options = sorted({o for d in dirs for o in group_options(key, d)})
        for choice in value.split(","):
            if _PLAIN.fullmatch(choice) and choice not in options:
                near = closest({o: _similarity(choice, o) for o in options})
                hint = f"did you mean {' or '.join(near)}? " if near else ""
                fail(f"unknown {key} '{choice}'; {hint}available: {', '.join(options)}")


def closest(scores: dict[str, float], cutoff: float = 0.7) -> list[str]:
    """What "did you mean" offers: the best-scoring names (at most three, within 0.1
    of the best), or none when even the best is below ``cutoff``."""
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    if not ranked or ranked[0][1] < cutoff:
        return []
    return [name for name, score in ranked[:3] if score >= ranked[0][1] - 0.1]


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()


def _key_similarity(key: str, other: str) -> float:
    """How close two dotted keys are: their last names (``learning_rate`` and ``lr``
    count as equal: initials), plus 0.1 within the same group."""
    parent, _, leaf = key.lower().rpartition(".")
    other_parent, _, other_leaf = other.lower().rpartition(".")
    initials = "".join(word[0] for word in leaf.split("_") if word)
    score = 1.0 if other_leaf == initials else _similarity(leaf, other_leaf)
    return score + 0.1 * (parent == other_parent)


def check_keys(args: Sequence[str], config_name: str = "train") -> None:
    """Reject ``key=value`` overrides of keys the composed config does not have.

    Hydra would stop with six lines; this says it in one, naming the closest keys of
    the whole config (``data.batch_size``: "did you mean trainer.batch_size?"). Group
    choices, ``+key=value`` (adding a key is allowed) and ``experiment=...`` shape the
    config first; a sweep is checked with the first value of each swept group. A key
    the YAML files show to be there is not composed for (:func:`_surely_there`): the
    common case costs a millisecond, a composition ~0.1 s. What this cannot read is
    left to Hydra.
    """
    if any(a in ("--config-path", "-cp") or a.startswith("--config-path=") for a in args):
        return  # another primary config folder: Hydra will say
    for i, arg in enumerate(args[:-1]):
        if arg in ("--config-name", "-cn"):
            config_name = args[i + 1]
    dirs = extra_config_dirs(args)
    if any((d / f"{config_name}.yaml").is_file() for d in dirs):
        return  # the primary config itself comes from elsewhere
    split = _split_overrides(args, [CONFIG_DIR, *dirs])
    if split is None:
        return
    shaping, keys = split
    primary = _parse_yaml((CONFIG_DIR / f"{config_name}.yaml").read_text())
    keys = [k for k in keys if not _surely_there(k, primary, shaping, [CONFIG_DIR, *dirs])]
    if not keys:
        return
    if dirs:
        shaping.append(f"hydra.searchpath=[{','.join(f'file://{d.resolve()}' for d in dirs)}]")
    try:
        cfg = OmegaConf.to_container(compose_config(shaping, config_name), resolve=False)
    except Exception:
        return  # composing fails for another reason: Hydra will say which
    for key in keys:
        if not _has_key(cfg, key):
            fail(_unknown_key(key, cfg))


def _split_overrides(
    args: Sequence[str], config_dirs: list[Path]
) -> tuple[list[str], list[str]] | None:
    """The overrides that shape the config (group choices, ``+``, ``++`` and ``~``; the
    first value of a sweep) and the keys the others set; None when Hydra should judge."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    lines = [a for a in args if not a.startswith("-") and ("=" in a or a.startswith("~"))]
    try:
        overrides = OverridesParser.create().parse_overrides(lines)
    except Exception:
        return None  # Hydra's grammar error says it better
    shaping, keys = [], []
    for o in overrides:
        if o.key_or_group == "hydra.searchpath":
            return None  # groups may come from anywhere
        if o.is_hydra_override():
            continue
        is_group = any((d / o.key_or_group).is_dir() for d in config_dirs)
        if not (is_group or o.is_add() or o.is_force_add() or o.is_delete()):
            keys.append(o.key_or_group)
        elif not o.is_sweep_override():
            shaping.append(o.input_line)
        elif o.is_discrete_sweep():
            shaping.append(f"{o.get_key_element()}={next(o.sweep_string_iterator())}")
        else:
            return None  # an interval sweep: the sweeper's business
    return shaping, keys


def _surely_there(
    key: str, primary: dict[str, Any], shaping: list[str], config_dirs: list[Path]
) -> bool:
    """Whether the YAML files alone show ``key`` to be in any config these overrides
    compose: the primary config sets it (``seed``), or every option of its group does
    (``optim.lr``: all eight optimizers) and the group is not chosen to be null."""
    group, _, rest = key.partition(".")
    if not rest:
        return key in primary and key not in ("defaults", "hydra")
    defaults = [e for e in primary.get("defaults", []) if isinstance(e, dict) and group in e]
    choice = defaults[0][group] if defaults else None
    for line in shaping:
        name, _, value = line.lstrip("+~").partition("=")
        choice = (None if line.startswith("~") else value) if name == group else choice
    files = [f for d in config_dirs for f in (d / group).glob("*.yaml")]
    return choice not in (None, "null") and bool(files) and all(_sets(f, key) for f in files)


def _sets(option: Path, key: str) -> bool:
    """Whether the option file (of ``key``'s group) sets ``key`` itself."""
    group, _, rest = key.partition(".")
    text = option.read_text()
    node = _parse_yaml(text)
    package = re.search(r"^# @package (\S+)", text, re.MULTILINE)
    if package and package[1] == "_global_":
        node = node.get(group)
    elif package and package[1] != "_group_":
        return False  # elsewhere: composing will tell
    for part in rest.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _parse_yaml(text: str) -> Any:
    # PyYAML's C loader: ~0.1 ms a file, 20x faster than OmegaConf.load
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


def _unknown_key(key: str, cfg: dict[str, Any]) -> str:
    """The one line for an unknown key: the closest keys anywhere in the config, else
    what its parent holds."""
    parent, _, leaf = key.rpartition(".")
    if parent == "model":  # a model option renamed since? (zoo imports torch: only here)
        from zoo.checks import RENAMED_OPTIONS

        renamed = f"{parent}.{RENAMED_OPTIONS.get(leaf)}"
        if _has_key(cfg, renamed):
            return f"unknown key '{key}'; it is now called {renamed}"
    near = closest({k: _key_similarity(key, k) for k in _dotted_keys(cfg)})
    if near:
        return f"unknown key '{key}'; did you mean {' or '.join(near)}?"
    node = _get(cfg, parent) if parent else cfg
    if not isinstance(node, dict):
        return f"unknown key '{key}'; {parent} holds a value, not keys"
    held = f"{parent} holds" if parent else "the top-level keys are"
    return f"unknown key '{key}'; {held}: {', '.join(node)} (+{key}=... adds one)"


def _dotted_keys(node: dict[str, Any], prefix: str = "") -> Iterable[str]:
    for key, value in node.items():
        yield f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _dotted_keys(value, f"{prefix}{key}.")


def _get(cfg: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(cfg, dict) or part not in cfg:
            return None
        cfg = cfg[part]
    return cfg


def _has_key(cfg: dict[str, Any], key: str) -> bool:
    """Whether ``key`` is in the (unresolved) config; below an interpolation, a null or a
    list it may be, and Hydra decides."""
    node: Any = cfg
    for part in key.split("."):
        if node is None or isinstance(node, list) or (isinstance(node, str) and "${" in node):
            return True
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


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


# --------------------------------------------------------------------------- failed runs, sweeps

# What the process that runs a command (and its sweep's launcher) knows across runs.
_existed: set[Path] = set()  # directories there before Hydra made any: never removed
JOB_RECORDS = ".jobs"  # <sweep dir>/.jobs/<num>.json while a sweep runs: how each job ended


@dataclass
class Job:
    """One job of a ``-m`` sweep: its number, its overrides, why it failed, and, for a
    config error whose run directory is still there, that directory.

    A launcher may run the jobs in other processes (joblib's workers, submitit's), so
    each job writes its record into the sweep directory and the sweep's own process
    reads them when the sweep ends (:class:`RunDirGuard`). A job in the sweep's process
    removes a config error's run directory at once; one elsewhere cannot know which
    directories were there before the sweep, and leaves that to the sweep's end."""

    num: int
    overrides: list[str]
    error: str | None = None
    run_dir: str | None = None

    def save(self, sweep_dir: Path) -> None:
        folder = sweep_dir / JOB_RECORDS
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{self.num}.json.tmp"
        tmp.write_text(json.dumps(asdict(self)))
        os.replace(tmp, folder / f"{self.num}.json")  # whole records only


_jobs: list[Job] = []  # the sweep's jobs, read back from their records (report_sweep)


def collect_jobs(sweep_dir: Path) -> list[Job]:
    """The records of a sweep's finished jobs, by number (their folder removed), each
    config error's run directory removed while it holds only what Hydra wrote."""
    folder = sweep_dir / JOB_RECORDS
    jobs = sorted((Job(**json.loads(p.read_text())) for p in folder.glob("*.json")),
                  key=lambda job: job.num)  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)
    for job in jobs:
        if job.run_dir is not None and not remove_failed_run(job.run_dir):
            job.error = f"{job.error} (run dir {display_path(job.run_dir)})"
    return jobs


class RunDirGuard(Callback):
    """Notes which directories exist before Hydra creates a run's (or a sweep's), so
    that a failed run removes only what it created (configs/hydra/callbacks/zoo.yaml);
    at a sweep's end, reads how its jobs ended (:func:`collect_jobs`) for
    :func:`report_sweep`."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _note_existing(_absolute(config.hydra.run.dir))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = _absolute(config.hydra.sweep.dir)
        _note_existing(sweep_dir)
        shutil.rmtree(sweep_dir / JOB_RECORDS, ignore_errors=True)  # an ended sweep's

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = _absolute(config.hydra.sweep.dir)
        _jobs[:] = collect_jobs(sweep_dir)
        if sweep_dir not in _existed and _entries(sweep_dir) == ["multirun.yaml"]:
            (sweep_dir / "multirun.yaml").unlink()  # every job failed and was removed
            _remove_empty_dirs(sweep_dir)


SWEPT_ENV = "ZOO_SWEPT_KEYS"  # the keys a sweep varies, for its jobs' directory names


class SweepDashboard(Callback):
    """A sweep as TensorBoard shows it (configs/hydra/callbacks): runs named by the keys
    the sweep varies (:func:`run_name`) and, when it ends, one HPARAMS table with the
    keys its runs differ in first (:func:`engine.logger_hparams.write_sweep_experiment`)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        os.environ[SWEPT_ENV] = ",".join(swept_keys(config))  # inherited by job processes

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        os.environ.pop(SWEPT_ENV, None)
        sweep_dir = _absolute(config.hydra.sweep.dir)
        if sweep_dir.is_dir():
            from engine.logger_hparams import write_sweep_experiment

            write_sweep_experiment(sweep_dir)


def swept_keys(config: DictConfig) -> list[str]:
    """The keys a sweep varies: command-line overrides with several values (``optim=adam,sgd``,
    ``range(...)``, ``choice(...)``) and the sweeper's search space (Optuna's params)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
    keys = [o.get_key_element().lstrip("+~") for o in overrides if o.is_sweep_override()]
    params = config.hydra.sweeper.get("params") or {}
    return sorted({*keys, *params})


def run_name(overrides: Sequence[str], exclude: Sequence[str]) -> str:
    """A sweep job's directory name after its number: its overrides of the swept keys
    (``optim=sgd``), without those every job shares (``trainer.max_epochs=3``); all of
    its overrides but ``exclude`` when the sweep's keys are unknown (a job started
    outside a sweep's callback)."""
    swept = os.environ.get(SWEPT_ENV)
    kept = []
    for line in overrides:
        key = line.partition("=")[0].lstrip("+~")
        if key in exclude or (swept is not None and key not in swept.split(",")):
            continue
        kept.append(line)
    return ",".join(sorted(kept))


OmegaConf.register_new_resolver("zoo_run_name", run_name, replace=True)


def _absolute(path: str | Path) -> Path:
    return Path(os.path.abspath(path))  # as Hydra's runtime.output_dir: symlinks kept


def _entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def _note_existing(path: Path) -> None:
    """Remember ``path`` and its entries or, while it does not exist, its nearest
    ancestor that does (and that one's entries)."""
    while not path.exists():
        path = path.parent
    _existed.add(path)
    if path.is_dir():
        _existed.update(path.iterdir())


def _remove_empty_dirs(path: Path) -> None:
    """Remove ``path`` and the folders above it while they are empty and were made here."""
    while path not in _existed and _entries(path) == [] and path.is_dir():
        path.rmdir()
        path = path.parent


def _file_handlers() -> list[logging.FileHandler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]


def remove_failed_run(run_dir: str | Path) -> bool:
    """Remove the directory a failed run created while it holds nothing but what Hydra
    wrote (``.hydra/`` and the log: no checkpoints, metrics or pictures), and the folders
    above it this call created once they are empty. Never one that was there before."""
    run_dir = _absolute(run_dir)
    if os.environ.get("RANK", "0") != "0":
        return False  # under torchrun the directory is rank 0's
    if not _existed or run_dir in _existed or not run_dir.is_dir():
        return False  # (an empty _existed: no RunDirGuard ran, nothing is known to be ours)
    if any(p.name != ".hydra" and p.suffix != ".log" for p in run_dir.iterdir()):
        return False
    for handler in _file_handlers():  # stop writing to the log file inside it
        if _absolute(handler.baseFilename).is_relative_to(run_dir):
            logging.getLogger().removeHandler(handler)
            handler.close()
    shutil.rmtree(run_dir)
    _remove_empty_dirs(run_dir.parent)
    return True


def report_errors(fn: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Turn a :class:`ZooError` raised inside a run into one line and exit code 2,
    removing the run directory it leaves nearly empty (:func:`remove_failed_run`).

    In a ``-m`` sweep a failing job does not stop the others: its failure (a ZooError,
    or any other exception, whose traceback goes to the job's log) is logged, and every
    job's end recorded for :func:`report_sweep` (:class:`Job`).
    """

    @functools.wraps(fn)
    def wrapper(cfg: DictConfig) -> Any:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hydra_cfg = HydraConfig.get()
        run_dir = hydra_cfg.runtime.output_dir
        job = None
        if hydra_cfg.mode == RunMode.MULTIRUN:
            job = Job(hydra_cfg.job.num, list(hydra_cfg.overrides.task))
        result = None
        try:
            result = fn(cfg)
        except ZooError as e:
            log.debug("run failed", exc_info=True)  # the full story goes to the log file
            removed = remove_failed_run(run_dir)  # False in a launcher's job process
            if job is None:
                fail(str(e))
            job.error = str(e)
            if not removed:  # for the sweep's process to remove (or name) at the end
                job.run_dir = run_dir
        except KeyboardInterrupt:
            fail("interrupted; continue with resume=true and the same hydra.run.dir", 130)
        except Exception as e:
            if job is None:
                raise  # a bug: Hydra prints the traceback; the run dir keeps the log
            log.debug("job failed", exc_info=True)
            where = display_path(next((h.baseFilename for h in _file_handlers()), run_dir))
            job.error = f"{type(e).__name__}: {e} (traceback in {where})"
        if job is not None:
            if job.error is not None:
                log.error(f"job #{job.num} failed: {job.error}")
            # the sweep dir as seen from where the command started (a job may run elsewhere)
            job.save(_absolute(Path(hydra_cfg.runtime.cwd, hydra_cfg.sweep.dir)))
        return result

    return wrapper


def report_sweep() -> None:
    """After a ``-m`` sweep with failed jobs: one line on stderr for each (the overrides
    that set it apart, and why it failed), then the total, and exit status 1."""
    failed = [job for job in _jobs if job.error]
    for job in failed:
        own = [o for o in job.overrides if any(o not in other.overrides for other in _jobs)]
        print(
            f"error: job #{job.num} ({' '.join(own or job.overrides)}) failed: {job.error}",
            file=sys.stderr,
        )
    if failed:
        fail(f"{len(failed)} of {len(_jobs)} jobs failed", code=1)


# ----------------------------------------------------------------------------- run directories


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
