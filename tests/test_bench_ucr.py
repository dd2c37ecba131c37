"""bench/ucr.py: every family's recipe builds as the bench composes it, a run appends
what it measured and skips it when rerun, and the table keeps each recipe apart (older
rows, which did not say their batch size, count as batch 16). Nothing trains longer
than one epoch of a tiny network here; the experiment itself is the bench's."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from engine.cli import compose_config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import ucr as bench


@pytest.mark.parametrize("family", list(bench.FAMILIES))
def test_every_family_composes_with_the_recipe(family: str) -> None:
    cfg = compose_config(bench.overrides("GunPoint", family, 3, 7, "last", batch=3))
    assert (cfg.trainer.batch_size, cfg.trainer.max_epochs, cfg.seed) == (3, 7, 3)
    assert cfg.trainer.test_checkpoint == "last" and cfg.data.params.name == "GunPoint"
    if family == "transformer":  # ⌈150/16⌉ = 10 steps per patch
        assert (cfg.model.tokens, cfg.model.patch_size) == ("patches", 10)


def test_run_appends_each_job_once(tmp_path, monkeypatch) -> None:
    calls = []

    def fake_train(cfg, run_dir):  # the bench's loop and bookkeeping, not the training
        calls.append((cfg.model.name, cfg.trainer.batch_size, cfg.sched.name))
        return {"test": {"accuracy": 0.5}}

    monkeypatch.setattr(bench, "train", fake_train)
    out = tmp_path / "runs.jsonl"
    args = argparse.Namespace(
        datasets=["GunPoint"], families=["fcn", "cnn"], seeds=[0, 1], epochs=2,
        select="last", batch_size=3, sched="cosine", shard="0/1", out=out,
    )  # fmt: skip
    bench.run(args)
    bench.run(args)  # everything is there: nothing runs again
    assert calls == [("fcn", 3, "cosine"), ("cnn", 3, "cosine")] * 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["family"], r["seed"], r["batch"]) for r in rows] == [
        ("fcn", 0, 3), ("cnn", 0, 3), ("fcn", 1, 3), ("cnn", 1, 3)
    ]  # fmt: skip


def test_table_is_mean_std_and_count_per_family(tmp_path) -> None:
    out = tmp_path / "runs.jsonl"
    old = {"dataset": "ArrowHead", "family": "fcn", "epochs": 100, "seconds": 1.0}
    out.write_text("\n".join(json.dumps({**old, "seed": s, "accuracy": a})
                             for s, a in [(0, 0.8), (1, 0.9)]))  # fmt: skip
    rows = bench.load(out)
    assert {bench.recipe(r) for r in rows} == {("best", 100, 16, "constant")}
    line = bench.table(rows)[2]
    assert line.startswith("| ArrowHead | 85.0 ± 7.1 (2) | fcn 85.0 | 77.8 | 84.3 | 84.5 |")
