"""``python train.py hydra.run.dir=D resume=true`` after the process was SIGKILLed
mid-training ends exactly where a run that was never interrupted ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from conftest import ROOT
from e2e_support import load_state, read_json

MAX_EPOCHS = 80  # ~30 ms each: seconds of training left when the kill lands at epoch ~3
RUN = [
    f"trainer.max_epochs={MAX_EPOCHS}",
    "trainer.patience=null",  # no early stop: the kill must land mid-run
    "trainer.checkpoint_interval_s=0",  # last.pt after every epoch
    "trainer.progress_bar=false",
    "logger=tensorboard",
]


def start(run_dir: Path, log: Path) -> subprocess.Popen:
    """``python train.py RUN hydra.run.dir=run_dir`` in the background."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    with open(log, "w") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, str(ROOT / "train.py"), *RUN, f"hydra.run.dir={run_dir}"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def wait_for_checkpoints(proc: subprocess.Popen, last: Path, writes: int, log: Path) -> None:
    """Return once ``last`` has been (re)written ``writes`` times (each write is a new file,
    renamed into place); fail if the process ends first."""
    seen: set[tuple[int, int]] = set()
    deadline = time.monotonic() + 600  # a hang, not a slow start, trips this
    while len(seen) < writes:
        assert proc.poll() is None, f"the run ended before it could be killed:\n{log.read_text()}"
        assert time.monotonic() < deadline, "no checkpoints appeared"
        try:
            st = last.stat()
            seen.add((st.st_ino, st.st_mtime_ns))
        except FileNotFoundError:
            pass
        time.sleep(0.002)


def model_and_optimizer_tensors(state: dict) -> dict[str, torch.Tensor]:
    tensors = {f"model.{k}": v for k, v in state["model"].items()}
    for pid, s in state.get("optimizer", {}).get("state", {}).items():  # not in best.pt
        tensors.update({f"optim.{pid}.{k}": v for k, v in s.items() if torch.is_tensor(v)})
    return tensors


def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path, scripts):
    killed_dir, reference_dir = tmp_path / "killed", tmp_path / "reference"
    last = killed_dir / "checkpoints" / "last.pt"
    killed_log = tmp_path / "killed.log"
    victim = start(killed_dir, killed_log)
    try:
        wait_for_checkpoints(victim, last, writes=3, log=killed_log)
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()

    # Really interrupted mid-run, and what it left is whole.
    assert not (killed_dir / "metrics.json").exists(), "the kill landed after training ended"
    interrupted = load_state(last)  # a truncated file would fail here
    killed_at = interrupted["counters"]["epoch"]
    assert 1 <= killed_at < MAX_EPOCHS

    proc = scripts.run("train.py", *RUN, f"hydra.run.dir={killed_dir}", "resume=true")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"after epoch {killed_at}" in proc.stdout, proc.stdout
    reference = scripts.run("train.py", *RUN, f"hydra.run.dir={reference_dir}")
    assert reference.returncode == 0, reference.stdout + reference.stderr

    resumed, uninterrupted = (read_json(d / "metrics.json") for d in (killed_dir, reference_dir))
    resumed.pop("train_time_s"), uninterrupted.pop("train_time_s")  # wall clock
    assert resumed == uninterrupted
    assert resumed["epochs"] == MAX_EPOCHS

    for name in ("last.pt", "best.pt"):
        a = load_state(killed_dir / "checkpoints" / name)
        b = load_state(reference_dir / "checkpoints" / name)
        ta, tb = model_and_optimizer_tensors(a), model_and_optimizer_tensors(b)
        assert ta.keys() == tb.keys()
        for key in ta:
            assert ta[key].dtype == tb[key].dtype and torch.equal(ta[key], tb[key]), (
                f"{name}: {key} differs from the uninterrupted run"
            )


def test_resume_continues_the_run_as_configured_and_keeps_its_config(tmp_path, scripts):
    """``resume=true`` alone resumes a 2-epoch run with 2 epochs (not the default 60),
    prints one line about its config, leaves .hydra/config.yaml as it was and records
    the resume in .hydra/resumes.yaml; an allowed change is applied and recorded."""
    run = tmp_path / "run"
    first = scripts.run("train.py", "trainer.max_epochs=2", *RUN[1:], f"hydra.run.dir={run}")
    assert first.returncode == 0, first.stderr
    config = (run / ".hydra" / "config.yaml").read_text()

    proc = scripts.run("train.py", f"hydra.run.dir={run}", "resume=true")
    assert proc.returncode == 0, proc.stderr
    assert "resuming with the run's own config (no changes)" in proc.stdout
    assert read_json(run / "metrics.json")["epochs"] == 2
    proc = scripts.run("train.py", f"hydra.run.dir={run}", "resume=true", "trainer.max_epochs=3")
    assert proc.returncode == 0, proc.stderr
    assert "changed: trainer.max_epochs=3 (was 2)" in proc.stdout
    assert read_json(run / "metrics.json")["epochs"] == 3
    assert (run / ".hydra" / "config.yaml").read_text() == config
    resumes = (run / ".hydra" / "resumes.yaml").read_text()
    assert "changed: {}" in resumes and "was: 2" in resumes and "now: 3" in resumes
