"""bench/augment_experiments.py and bench/augment_sweep.py: every recipe the sweep
tries builds and trains, a run returns its test accuracy and train - val gap, and
the scripts rewrite only their own sections of RESULTS.md, keeping the rows of the
setups not rerun. (The experiments are the benches'; nothing here trains longer
than one epoch.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import augment

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load(name: str):
    """A bench module by path: with bench/ first on sys.path, bench/augment.py would
    shadow the augment package."""
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


experiments = load("augment_experiments")
sweep = load("augment_sweep")
RECIPES = [label for label, recipe in sweep.CANDIDATES.items() if not isinstance(recipe, str)]


@pytest.mark.parametrize("label", RECIPES)
def test_every_sweep_recipe_trains_the_digits_cnn(label):
    seen = []

    def swap(trainer, built):
        sweep.pipeline_of(sweep.CANDIDATES[label])(trainer, built)
        seen.append(trainer.augment)

    overrides = ["experiment=digits_cnn", "data.labels_per_class=10", "trainer.max_epochs=1"]
    test, gap = experiments.one_run([*overrides, "augment=affine"], 0, swap)
    (pipeline,) = seen
    names = [t.name for t in pipeline.transforms] + (
        [pipeline.mixing.name] if pipeline.mixes else []
    )
    assert names == [name for name, _ in sweep.CANDIDATES[label]]
    assert 0 <= test <= 1 and -1 <= gap <= 1


def test_the_sweeps_pipeline_works_in_the_datas_raw_units():
    stats = {"x_mean": torch.full((1, 1, 1), 4.0), "x_std": torch.full((1, 1, 1), 2.0)}
    data = SimpleNamespace(stats=stats, device=torch.device("cpu"))
    built, trainer = SimpleNamespace(data=data), SimpleNamespace(augment=None)
    sweep.pipeline_of([("erasing", {"p": 1.0, "scale": (0.2, 0.2), "value": 0.0})])(trainer, built)
    out = trainer.augment(torch.zeros(4, 1, 8, 8), torch.Generator().manual_seed(0))
    # Erased pixels are raw 0 (black), scaled (0 - 4) / 2 = -2; the rest stay scaled 0.
    assert set(out.unique().tolist()) == {-2.0, 0.0}


def write_results(root: Path, monkeypatch) -> Path:
    monkeypatch.setattr(experiments, "ROOT", root)
    path = root / "RESULTS.md"
    path.write_text(
        "# Results\n\nbefore\n\n"
        f"{experiments.BEGIN}\nold\n| digits CNN, full training split | none | 1 | 2 |  |\n"
        f"| ItalyPowerDemand MLP | light | 3 | 4 | +1 |\n{experiments.END}\n\nafter\n"
    )
    return path


def test_replace_section_rewrites_only_between_its_markers(tmp_path, monkeypatch):
    path = write_results(tmp_path, monkeypatch)
    experiments.replace_section(experiments.BEGIN, experiments.END, ["new"])
    assert path.read_text() == (
        f"# Results\n\nbefore\n\n{experiments.BEGIN}\nnew\n{experiments.END}\n\nafter\n"
    )
    experiments.replace_section(sweep.BEGIN, sweep.END, ["sweep"])  # absent: appended
    assert path.read_text().endswith(f"after\n\n{sweep.BEGIN}\nsweep\n{sweep.END}\n")


def test_the_rows_of_setups_not_rerun_are_kept(tmp_path, monkeypatch):
    write_results(tmp_path, monkeypatch)
    assert experiments.table_rows() == [
        "| digits CNN, full training split | none | 1 | 2 |  |",
        "| ItalyPowerDemand MLP | light | 3 | 4 | +1 |",
    ]
    (tmp_path / "RESULTS.md").write_text("# Results\n")
    assert experiments.table_rows() == []


def test_every_candidate_names_a_registered_transform_or_preset():
    for recipe in sweep.CANDIDATES.values():
        names = [recipe] if isinstance(recipe, str) else [name for name, _ in recipe]
        assert all(n == "none" or n in augment.list_augments() for n in names)


def test_only_runs_the_named_recipes_and_none_and_leaves_results_alone(
    tmp_path, monkeypatch, capsys
):
    path = write_results(tmp_path, monkeypatch)
    before = path.read_text()
    ran = []

    def fake_run(overrides, seed, prepare=None):
        ran.append((overrides[-1], seed, prepare is not None))
        return 0.9, 0.05

    monkeypatch.setattr(sweep, "one_run", fake_run)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # the suite's own count
    label = "light + erasing"
    monkeypatch.setattr(sys, "argv", ["augment_sweep.py", "--seeds", "0", "1", "--only", label])
    sweep.main()
    assert ran == [("augment=none", 0, False), ("augment=none", 1, False),
                   ("augment=affine", 0, True), ("augment=affine", 1, True)]  # fmt: skip
    assert label in capsys.readouterr().out and path.read_text() == before
