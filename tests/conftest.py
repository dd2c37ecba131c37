"""Shared test helpers: compose configs in-process, run the entry points as a user does."""

from __future__ import annotations

import functools
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from config_cache import set_values, share_loaded_configs, split_choices
from omegaconf import DictConfig

from engine.cli import CONFIG_DIR as CONFIG_DIR  # the tests import it from here
from engine.cli import compose_config, config_groups

ROOT = Path(__file__).resolve().parent.parent
GROUPS = config_groups()  # model, data, ...

# pytest -n 2 runs two workers on two cores: one thread each keeps them from
# fighting over the cores (tiny models gain nothing from a second thread anyway).
torch.set_num_threads(1)

# Small and quiet: a few epochs, no progress bar. Tests add what they need.
FAST = ["trainer.max_epochs=3", "trainer.progress_bar=false"]
# One epoch of its first two batches (validated and tested in full): that a config trains.
TWO_BATCHES = ["trainer.max_epochs=1", "trainer.limit_train_batches=2"]
# An episodic (few-shot) task tests on 1,000 episodes per K and validates on 100 after
# every epoch, seconds more than its epoch of training: a test that checks that a run
# works, not how well, evaluates on a few.
FEW_EPISODES = ["task.test_episodes=20", "task.val_episodes=5"]


def episodic(cfg: DictConfig) -> bool:
    """Whether the config's task trains and tests on episodes (it takes FEW_EPISODES)."""
    return "test_episodes" in cfg.task


def compose_cfg(*overrides: str, config_name: str = "train") -> DictConfig:
    """The config ``python train.py <overrides>`` would run (without hydra.* keys).

    Composed as Hydra does, in its two steps (tests/config_cache.py): the choices of
    config groups once per session for each list of choices (a composition takes ~0.2 s
    and the suite asks for the same ones again and again), then the values set on a
    copy of it, unpickled (3x cheaper than ``copy.deepcopy`` of a DictConfig)."""
    split = split_choices(overrides, GROUPS)
    if split is None:  # a sweep, a package, a hydra key: Hydra's one step
        return pickle.loads(_composed(overrides, config_name))
    choices, values = split
    return set_values(pickle.loads(_composed(choices, config_name)), values)


@functools.cache
def _composed(overrides: tuple[str, ...], config_name: str) -> bytes:
    return pickle.dumps(compose_config(overrides, config_name))


@pytest.fixture(scope="session", autouse=True)
def config_files_read_once():
    """Every composition of the session reads each YAML file once (tests/config_cache.py)."""
    with share_loaded_configs():
        yield


def run_script(
    script: str, *args: str, cwd: Path | None = None, timeout: float = 900, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run ``python <script> <args>`` from the repo root (or ``cwd``) and capture output.

    The timeout catches a hang, not a slow machine: a run that takes seconds here may
    take minutes on a loaded CI box."""
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=script_env(env),
    )


@pytest.fixture(scope="session")
def scripts():
    """``scripts.run(script, *args)``: :func:`run_script` for the many short runs (each
    one-line error comes within a second of the start, after 4-5 s of imports),
    forked from one process that has the imports done (tests/script_server.py)."""
    from script_server import ScriptServer

    server = ScriptServer(ROOT, script_env())
    yield server
    server.close()


@pytest.fixture(scope="session")
def one_onnx_registry():
    """One table of ONNX translations for every export of the session.

    ``torch.onnx.export`` builds that table (``ONNXRegistry.from_torchlib``: the source
    of ~500 onnxscript functions read and parsed) on every call, 0.5-1 s, often more
    than the export itself; the export tests make ~80 of them. The table depends only
    on the opset, and an export that is given no custom translations (the zoo gives
    none) does not change it, so a test module that uses this fixture builds it once
    per opset. A user's export is one call and builds it once anyway.
    """
    from torch.onnx._internal.exporter import _registration

    registry = _registration.ONNXRegistry
    original = registry.__dict__["from_torchlib"]  # the classmethod itself
    # staticmethod: torch calls it on the class and on instances
    registry.from_torchlib = staticmethod(functools.cache(registry.from_torchlib))
    yield
    registry.from_torchlib = original


def script_env(env: dict | None = None) -> dict[str, str]:
    """The environment the entry points run in: one torch thread, Hydra's short errors."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0", **(env or {})}


def train_run(cfg: DictConfig, run_dir: Path) -> dict:
    """``engine.run.train`` leaving the config where train.py would (``.hydra/``), so
    that evaluate.py, sample.py and ``model.run=`` can load the run."""
    from engine.run import save_config, train

    save_config(cfg, run_dir)
    return train(cfg, run_dir)


@pytest.fixture
def fast_cfg():
    """``fast_cfg(*overrides)``: a shrunk training config."""
    return lambda *overrides: compose_cfg(*FAST, *overrides)
