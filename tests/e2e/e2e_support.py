"""Helpers of the end-to-end tests: runs shared across tests (and xdist workers), and
the shape every failure must have (exit code, one ``error:`` line on stderr).

A run that several tests only *read* is made once per session: the first worker to
ask trains it (through ``scripts.run``, forked with the imports done) under a file
lock, the others wait and read the same directory. A test that changes a run
copies it first (:func:`copy_run`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import FAST

# The runs tests share, by name: train.py's overrides (without hydra.run.dir).
SHARED_RUNS = {
    "default": [*FAST],
    "regression": [*FAST, "data=diabetes", "task=regression", "loss=mse"],
}


@dataclass
class Run:
    """A finished ``train.py`` run: its directory and what the process said."""

    dir: Path
    returncode: int
    stdout: str
    stderr: str

    def metrics(self) -> dict[str, Any]:
        return read_json(self.dir / "metrics.json")


def _shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every xdist worker of this session sees (the workers' common parent)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_run(tmp_path_factory: pytest.TempPathFactory, name: str, scripts: Any) -> Run:
    """``python train.py <SHARED_RUNS[name]>``, run once per session through ``scripts``
    (the fixture's :class:`ScriptServer`); treat as read-only."""
    base = _shared_root(tmp_path_factory) / "e2e-shared" / name
    base.mkdir(parents=True, exist_ok=True)
    result = base / "result.json"
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not result.exists():
            proc = scripts.run("train.py", *SHARED_RUNS[name], f"hydra.run.dir={base / 'run'}")
            fields = {"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}
            result.write_text(json.dumps(fields))
        fields = json.loads(result.read_text())
    run = Run(base / "run", **fields)
    assert run.returncode == 0, f"shared run {name!r} failed:\n{run.stdout}\n{run.stderr}"
    return run


def copy_run(run: Run, dest: Path) -> Path:
    """A private copy of a shared run, for a test that writes into it."""
    shutil.copytree(run.dir, dest)
    return dest


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def load_state(path: Path) -> dict[str, Any]:
    """A checkpoint as a user would load it: tensors and plain containers only."""
    return torch.load(path, map_location="cpu", weights_only=True)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file below ``directory`` (relative path -> bytes)."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def error_line(proc: subprocess.CompletedProcess) -> str:
    """Assert the process failed as users are promised, and return its message.

    Non-zero exit (not a crash by signal), and stderr holding exactly one non-empty
    line, ``error: ...``: no traceback, no Hydra banner.
    """
    assert proc.returncode > 0, (
        f"expected a failure, got exit code {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"stderr should be one line, got {len(lines)}:\n{proc.stderr}"
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def last_lines(text: str, n: int) -> list[str]:
    return [line for line in text.splitlines() if line.strip()][-n:]
