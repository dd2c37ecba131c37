"""engine.distributed under torchrun on 2 CPU ranks (gloo): a 2-rank run equals the
one-process run with the same global batch (with SyncBatchNorm for batch norm), only
rank 0 writes (one run directory from a timestamped pattern, one set of events, one
last.pt), resume is bitwise exact, and a rank that dies ends the job with one line.

Each torchrun job costs two Python processes' imports, so the jobs are few and tiny
(iris, a 16-unit MLP, a few epochs)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import FAST, ROOT, compose_cfg, train_run
from resume_checks import assert_bitwise_equal, assert_same_training_state

from engine.checkpoint import load_checkpoint
from engine.distributed import World
from engine.errors import ConfigError

SMALL = [*FAST, "data=iris", "model.hidden_size=16", "trainer.checkpoint_interval_s=0"]
# Dropout draws differ by rank, so only a run without it can equal one process.
EQUAL = [*SMALL, "trainer.max_epochs=4", "model.dropout=0"]


def torchrun(*args: str, wait: bool = True):
    """``torchrun --standalone --nproc-per-node=2 train.py trainer=ddp <args>``."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    cmd += [str(ROOT / "train.py"), "trainer=ddp", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0"}
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def model_of(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


@pytest.mark.parametrize(
    "model", [["model.norm=none"], ["model.norm=batch", "trainer.sync_batchnorm=true"]]
)
def test_two_ranks_equal_one_process_and_only_rank_0_writes(tmp_path, model):
    one = train_run(compose_cfg(*EQUAL, "logger=none", *model), tmp_path / "one")
    # A timestamped directory, resolved by every rank: with its own clock each rank
    # could pick its own (lightning-hydra-template #393); the job must make one.
    root = tmp_path / "ddp"
    torchrun(*EQUAL, *model, "logger=tensorboard", f"hydra.run.dir={root}/${{now:%H-%M-%S-%f}}")
    (run_dir,) = root.iterdir()
    ours = model_of(run_dir)
    for name, value in model_of(tmp_path / "one").items():
        torch.testing.assert_close(ours[name].float(), value.float(), atol=1e-5, rtol=0)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["steps"] == one["steps"] == 8  # 104 samples, global batch 64: 2 steps
    for split in ("val", "test"):  # over the whole split, not a rank's shard
        assert metrics[split] == pytest.approx(one[split], abs=1e-5)
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    assert sorted(p.name for p in (run_dir / ".hydra").iterdir()) == [
        "config.yaml", "hydra.yaml", "overrides.yaml"
    ]  # fmt: skip


def test_resume_under_torchrun_is_bitwise_exact(tmp_path):
    common = [*SMALL, "logger=none", "trainer.patience=null", "model.dropout=0.5"]
    torchrun(*common, "trainer.max_epochs=4", f"hydra.run.dir={tmp_path / 'a'}")
    torchrun(*common, "trainer.max_epochs=2", f"hydra.run.dir={tmp_path / 'b'}")
    torchrun(*common, "trainer.max_epochs=4", "resume=true", f"hydra.run.dir={tmp_path / 'b'}")
    a = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert a["ranks"]["world_size"] == 2 and len(a["ranks"]["rng"]) == 2
    assert not torch.equal(a["ranks"]["rng"][0]["torch"], a["ranks"]["rng"][1]["torch"])
    assert_same_training_state(a, b)
    assert_bitwise_equal(a["ranks"], b["ranks"])  # rank 1's random state too
    # rank 0's history.csv, appended epoch by epoch, as if never interrupted
    assert (tmp_path / "b" / "history.csv").read_text() == (
        tmp_path / "a" / "history.csv"
    ).read_text()


@pytest.mark.parametrize("rank_0", ["running", "paused"])
def test_a_rank_that_dies_ends_the_job_with_one_line(tmp_path, rank_0):
    """Rank 0 hears of it from its next collective (running) or from torchrun's SIGTERM
    (paused: torchrun stops the job before rank 0 runs again, as on a loaded machine)."""
    run_dir = tmp_path / "run"
    proc = torchrun(
        *SMALL, "data=digits", "logger=none", "trainer.max_epochs=100000",
        "trainer.patience=null", f"hydra.run.dir={run_dir}", wait=False,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not (run_dir / "checkpoints" / "last.pt").exists():  # training is under way
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.2)
        main = rank_pid(proc.pid, 0)
        if rank_0 == "paused":
            os.kill(main, signal.SIGSTOP)
        os.kill(rank_pid(proc.pid, 1), signal.SIGKILL)
        if rank_0 == "paused":
            while not pending(main, signal.SIGTERM):  # torchrun has stopped the job
                assert time.monotonic() < deadline, "torchrun sent no SIGTERM"
                time.sleep(0.1)
            os.kill(main, signal.SIGCONT)
        _, stderr = proc.communicate(timeout=120)  # no hang
    finally:
        proc.kill()
    assert proc.returncode != 0
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: rank 1 of 2 ended"), stderr


def pending(pid: int, sig: int) -> bool:
    """Whether ``sig`` waits to be delivered to process ``pid`` (its ShdPnd mask)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("ShdPnd:"):
            return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    return False


def rank_pid(parent: int, rank: int) -> int:
    """The pid of the child of ``parent`` (torchrun) whose environment says RANK=rank."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != parent:
                continue
            env = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if f"RANK={rank}".encode() in env:
            return int(stat.parent.name)
    raise AssertionError(f"no rank {rank} under pid {parent}")


# ----------------------------------------------------------------------------- in process


def test_torchrun_without_trainer_ddp_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="add trainer=ddp"):
        World.from_config("single", torch.device("cpu"))


def test_a_batch_too_small_for_the_ranks_is_refused():
    world = World.__new__(World)
    world.size, world.rank = 4, 0
    with pytest.raises(ConfigError, match="at least 4 samples"):
        world.check_batches([64, 64, 3], 64)


def test_shards_cover_each_batch_once_with_shares_summing_to_the_world():
    x, t = torch.arange(10.0).view(5, 2), torch.arange(5)
    shards = []
    for rank in range(2):
        world = World.__new__(World)
        world.size, world.rank = 2, rank
        ((xr, tr, share),) = world.shard(iter([(x, t)]))
        shards.append((xr, tr, share))
    assert sorted(torch.cat([s[1] for s in shards]).tolist()) == t.tolist()
    assert [s[2] for s in shards] == [2 * 3 / 5, 2 * 2 / 5]  # W·n_r/N
