"""How a sweep learns how its jobs ended (engine.cli): each job writes a record into
``<sweep dir>/.jobs/``, from whichever process ran it; the sweep's own process reads
them at the end, removes the run directories that config errors left with nothing but
Hydra's files, and names those it must keep. Records an ended sweep left in the same
directory are cleared when the next one starts."""

from __future__ import annotations

from omegaconf import OmegaConf

from engine import cli
from engine.cli import JOB_RECORDS, Job, RunDirGuard


def run_dir_with(path, *files: str):
    for name in files:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text("x")
    return path


def test_a_sweep_reads_its_jobs_records_and_clears_an_ended_sweeps(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "_existed", set())
    monkeypatch.setattr(cli, "_jobs", [])
    sweep = tmp_path / "sweep"
    Job(7, ["seed=7"], "from an ended sweep").save(sweep)  # stale
    kept = run_dir_with(sweep / "kept", "train.log")  # there before this sweep
    cfg = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}})
    guard = RunDirGuard()
    guard.on_multirun_start(cfg)
    assert not (sweep / JOB_RECORDS).exists()

    config_error = run_dir_with(sweep / "1_seed=1", ".hydra/config.yaml", "train.log")
    trained = run_dir_with(sweep / "2_seed=2", ".hydra/config.yaml", "checkpoints/last.pt")
    Job(0, ["seed=0"]).save(sweep)
    Job(2, ["seed=2"], "bad value", str(trained)).save(sweep)  # out of order
    Job(1, ["seed=1"], "bad value", str(config_error)).save(sweep)
    Job(3, ["seed=3"], "bad value", str(kept)).save(sweep)
    guard.on_multirun_end(cfg)

    assert [job.num for job in cli._jobs] == [0, 1, 2, 3]
    assert [job.error for job in cli._jobs] == [
        None,
        "bad value",  # its directory removed
        "bad value (run dir sweep/2_seed=2)",  # it holds a checkpoint
        "bad value (run dir sweep/kept)",  # it was there before
    ]
    assert not config_error.exists() and trained.is_dir() and kept.is_dir()
    assert not (sweep / JOB_RECORDS).exists()
