"""bench/semi_supervised.py: every recipe it runs builds, the gap-closed arithmetic and
the goals' verdicts are right, a rerun keeps the k it does not run, and it rewrites only
its own section of RESULTS.md.
(The experiment itself is the bench's; nothing here trains longer than one epoch.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from engine.cli import compose_config
from engine.run import make_trainer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import semi_supervised as bench

NEURAL = [m for m, overrides in bench.METHODS.items() if overrides is not None]


@pytest.mark.parametrize("method", NEURAL)
def test_every_recipe_builds_as_the_bench_composes_it(method, tmp_path) -> None:
    """compose_config adds no pairs_with (train.py does): a recipe must name them itself."""
    extra = [] if method == "fully_supervised" else ["data.labels_per_class=1"]
    if method == "simclr_transfer":
        pretrain = compose_config([*bench.QUIET, *bench.PRETRAIN])
        assert pretrain.loss.name == "nt_xent" and pretrain.augment.name == "strong"
        bench.run([*bench.PRETRAIN, "trainer.max_epochs=1"], tmp_path / "simclr")
        extra.append(f"transfer.from={tmp_path / 'simclr'}")
    cfg = compose_config([*bench.QUIET, *bench.METHODS[method], *extra])
    trainer, _ = make_trainer(cfg, tmp_path / method)
    assert trainer.model is not None


def test_gap_closed_is_the_share_of_the_error_gap() -> None:
    # err_supervised 0.10, err_full 0.02, err_method 0.04: (0.10 - 0.04) / 0.08 = 75%.
    assert bench.gap_closed([0.95, 0.97], [0.9], [0.98]) == "75%"
    assert bench.gap_closed([0.95], [0.99], [0.98]) == "n/a"  # no gap to close


def test_goals_say_met_or_missed_from_the_means() -> None:
    results = {
        "supervised": {"1": [0.6], "4": [0.8], "10": [0.94]},
        "fully_supervised": {"all": [0.99]},
        "label_spreading": {"10": [0.95]},
        "fixmatch": {"10": [0.98, 0.98]},
        "simclr_transfer": {"1": [0.9], "4": [0.93], "10": [0.96]},
    }
    lines = "\n".join(bench.goals(results, {"raw_pixels": [0.97], "simclr": [0.96]}))
    assert "80% closed" in lines and "LabelSpreading 95.0%): met." in lines
    assert "+2.0 points: missed" in lines and "104.0%, above 100%" in lines
    assert "k = 1: +30.0, k = 4: +13.0 points" in lines
    assert "raw pixels 97.0%: missed." in lines
    results["fixmatch"]["10"] = [0.96]  # 40% closed, above LabelSpreading: still missed
    assert "40% closed" in "\n".join(bench.goals(results, {}))
    assert "missed" in bench.goals(results, {})[3]
    results["fixmatch_long"] = {"10": [0.985]}  # 90% closed, above LabelSpreading
    assert (
        "- FixMatch (160 epochs) closes ≥ 70% of the gap and beats LabelSpreading: 90% closed"
        " (98.5% against 94.0% supervised and 99.0% fully supervised; LabelSpreading 95.0%):"
        " met." in bench.goals(results, {})
    )
    assert bench.goals({"supervised": {"10": [0.9]}}, {}) == []  # nothing to judge yet


def test_the_section_is_rewritten_in_place(tmp_path) -> None:
    out = tmp_path / "RESULTS.md"
    out.write_text("# before\n\n<!-- semi_supervised:begin -->\nold\n<!-- semi_supervised:end -->\n"
                   "# after\n")  # fmt: skip
    bench.write_section("new", out)
    assert out.read_text() == (
        "# before\n\n<!-- semi_supervised:begin -->\nnew\n<!-- semi_supervised:end -->\n# after\n"
    )
    empty = tmp_path / "empty.md"
    bench.write_section("first", empty)
    assert (
        "<!-- semi_supervised:begin -->\nfirst\n<!-- semi_supervised:end -->" in empty.read_text()
    )


def test_a_rerun_replaces_only_the_k_it_runs_and_says_how_many_seeds(tmp_path, monkeypatch):
    raw = tmp_path / "raw.json"
    raw.write_text(
        '{"label_spreading": {"1": [0.1, 0.2], "4": [0.3, 0.4]}, "_probes": {}, '
        '"_seconds": {"label_spreading": 1000}}'
    )
    paths = ["--raw", str(raw), "--out", str(tmp_path / "R.md"), "--plot", str(tmp_path / "p.png")]
    argv = ["semi_supervised.py", "--methods", "label_spreading", "--labels", "1", "--seeds", "0"]
    monkeypatch.setattr(sys, "argv", [*argv, *paths])
    bench.main()
    results = json.loads(raw.read_text())
    assert results["label_spreading"]["4"] == [0.3, 0.4]  # kept
    assert len(results["label_spreading"]["1"]) == 1 and results["label_spreading"]["1"][0] > 0.5
    assert results["_seconds"]["label_spreading"] >= 1000  # the kept k=4's time, and k=1's
    assert bench.fmt([0.9, 0.92], seeds=5) == "91.0 ± 1.4 (2 seeds)"
    assert bench.fmt([0.9, 0.92], seeds=2) == "91.0 ± 1.4"
    assert bench.fmt([0.9], seeds=5) == "90.0 (1 seed)"
