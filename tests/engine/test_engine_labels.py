"""engine.data.labels: ``data.classes`` keeps and relabels classes (names kept through
evaluation), ``data.labels_per_class`` keeps k labels per class drawn by the data seed
with the rest of the training split served unlabelled, on arrays, user data and graphs;
bad values are one line each."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from conftest import CONFIG_DIR, FAST, compose_cfg

from engine.data import build_data, list_datasets
from engine.data.images import NEEDS_FILES
from engine.data.labels import labelled_subset, select_classes
from engine.errors import ConfigError
from engine.report.evaluation import evaluate_runs
from engine.run import save_config, train


def data_of(*overrides: str, seed: int = 0):
    return build_data(compose_cfg(*overrides).data, seed=seed)


def rows(x: torch.Tensor) -> set[bytes]:
    return {r.numpy().tobytes() for r in x.flatten(1)}


# ----------------------------------------------------------------------------- index arithmetic


def test_select_classes_keeps_and_relabels_in_the_order_given():
    y = np.array([0, 1, 2, 3, 2, 1, 0, 3])
    keep, y_new, names = select_classes(y, ["a", "b", "c", "d"], ["d", "b"])
    assert keep.tolist() == [1, 3, 5, 7]
    assert y_new.tolist() == [1, 0, 1, 0]  # d -> 0, b -> 1
    assert names == ["d", "b"]
    keep, y_new, names = select_classes(y, ["a", "b", "c", "d"], None)
    assert keep.tolist() == list(range(8)) and y_new is y and names == ["a", "b", "c", "d"]


def test_labelled_subset_draws_k_per_class_nested_by_the_seed():
    y = np.repeat(np.arange(3), 20)
    names = ["a", "b", "c"]
    subsets = {k: labelled_subset(y, k, seed=7, class_names=names) for k in (1, 5, 10)}
    for k, (labelled, unlabelled) in subsets.items():
        assert np.bincount(y[labelled]).tolist() == [k, k, k]
        assert sorted([*labelled, *unlabelled]) == list(range(60))  # a partition
    assert set(subsets[1][0]) < set(subsets[5][0]) < set(subsets[10][0])
    again = labelled_subset(y, 5, seed=7, class_names=names)[0]
    other = labelled_subset(y, 5, seed=8, class_names=names)[0]
    assert np.array_equal(again, subsets[5][0]) and not np.array_equal(other, subsets[5][0])


# ----------------------------------------------------------------------------- on a DataModule


def test_classes_and_labels_per_class_on_digits():
    full = data_of("data.classes=[9,5,7]")
    assert full.class_names == ["9", "5", "7"] and full.spec.num_classes == 3
    few = data_of("data.classes=[9,5,7]", "data.labels_per_class=4")
    x, y = few.splits["train"]
    assert len(x) == 12 and torch.bincount(y).tolist() == [4, 4, 4]
    assert few.has_unlabelled and not full.has_unlabelled
    for split in ("val", "test"):  # untouched, scaling included
        assert torch.equal(few.splits[split][0], full.splits[split][0])
        assert torch.equal(few.splits[split][1], full.splits[split][1])
    # Labelled + unlabelled = the whole training split, with its labels.
    joined = torch.cat([x, few.splits["unlabelled"][0]])
    assert rows(joined) == rows(full.splits["train"][0]) and len(joined) == full.size("train")
    assert next(few.batches("unlabelled", 1000))[0].shape[0] == few.size("unlabelled")
    # The relabelled classes are the right images: class 0 is the digit 9 everywhere.
    raw, plain = data_of("data.scale=none", "data.classes=[9,5,7]"), data_of("data.scale=none")
    nines = torch.cat([x[y == 9] for x, y in plain.splits.values()])
    assert rows(torch.cat([x[y == 0] for x, y in raw.splits.values()])) == rows(nines)


def test_the_data_seed_draws_the_labels():
    a = data_of("data.labels_per_class=2", seed=0).splits["train"][0]
    b = data_of("data.labels_per_class=2", seed=0).splits["train"][0]
    c = data_of("data.labels_per_class=2", seed=1).splits["train"][0]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_user_data_takes_class_names():
    data = data_of(
        "+data._target_=test_engine_data.string_labels",
        "data.name=mine",
        "data.classes=[owl,cat]",
        "data.labels_per_class=3",
    )
    assert data.class_names == ["owl", "cat"]
    assert torch.bincount(data.splits["train"][1]).tolist() == [3, 3]


@pytest.mark.parametrize("level", ["sbm", "motifs"])
def test_graphs_take_classes_and_labels_per_class(level):
    extra = ["data.params.n_graphs=80"] if level == "motifs" else []
    data = data_of(f"data={level}", *extra, "data.labels_per_class=3")
    assert torch.bincount(data.splits["train"][1]).tolist() == [3] * data.spec.num_classes
    assert data.size("unlabelled") > 0
    if level == "sbm":
        two = data_of("data=sbm", "data.classes=['block 3','block 0']")
        assert two.class_names == ["block 3", "block 0"] and two.spec.num_classes == 2
        targets = torch.cat([two.splits[s][1] for s in ("train", "val", "test")])
        assert len(targets) == 200 and set(targets.tolist()) == {0, 1}


def default_task(data: str) -> str:
    """The task ``data=<data>`` composes with: its YAML's ``override /task`` if it has
    one, else train.yaml's (read from the files: composing each at collection costs
    seconds on every worker)."""
    for path, key in ((CONFIG_DIR / "data" / f"{data}.yaml", "override /task"),
                      (CONFIG_DIR / "train.yaml", "task")):  # fmt: skip
        for entry in yaml.safe_load(path.read_text()).get("defaults", []):
            if isinstance(entry, dict) and key in entry:
                return entry[key]
    raise AssertionError("train.yaml names no default task")


# Every classification dataset that builds offline (the file-based ones are covered by
# the same code path: build_data has one for arrays, one for graphs).
CLASSIFICATION = [
    n for n in list_datasets() if n not in NEEDS_FILES and default_task(n) == "classification"
]


@pytest.mark.parametrize("name", [n for n in list_datasets() if n not in NEEDS_FILES])
def test_the_task_read_from_the_files_is_the_composed_one(name):
    assert default_task(name) == compose_cfg(f"data={name}").task.name


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_every_classification_dataset_takes_both(name):
    cfg = compose_cfg(f"data={name}")
    whole = build_data(cfg.data, seed=0)
    names = whole.class_names
    options = [f"data.classes={names[:2]!r}", "data.labels_per_class=1"]
    if whole.spec.step_targets:  # a label per step: no class per sample to pick by
        picked = compose_cfg(f"data={name}", *(f"+{o}" for o in options))
        with pytest.raises(ConfigError, match="this data has per-step targets"):
            build_data(picked.data, seed=0)
        return
    data = build_data(compose_cfg(f"data={name}", *options).data, seed=0)  # as a user types it
    assert data.class_names == names[:2] and data.size("train") == 2
    assert data.has_unlabelled


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (["data.labels_per_class=200"], "data.labels_per_class=200 but class '"),
        (["data.classes=[3,11]"], "data.classes names 11, which the data lacks; its classes are 0"),
        (["data.classes=[3,3]"], "must name at least two different classes"),
        (["data.labels_per_class=0"], "data.labels_per_class must be a whole number >= 1"),
        (["data=diabetes", "+data.classes=[1,2]"], "this data has regression targets"),
    ],
)
def test_bad_label_options_are_one_line(overrides, says):
    cfg = compose_cfg(*overrides)
    with pytest.raises(ConfigError, match=says.replace("[", r"\[")) as e:
        build_data(cfg.data, seed=0)
    assert "\n" not in str(e.value)


def test_too_many_labels_says_how_many_there_are():
    with pytest.raises(ConfigError, match=r"has only \d+ training samples; use at most \d+"):
        data_of("data.classes=[0,1]", "data.labels_per_class=1000")


def test_the_run_keeps_the_original_names_through_evaluation(tmp_path):
    cfg = compose_cfg(*FAST, "logger=none", "data.classes=[5,6,7,8,9]", "data.labels_per_class=5")
    save_config(cfg, tmp_path)
    train(cfg, tmp_path)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["class_names"] == ["5", "6", "7", "8", "9"]
    report = evaluate_runs([tmp_path], tmp_path / "eval", pictures=False)["report"]
    assert report["class_names"] == ["5", "6", "7", "8", "9"]
    assert sum(report["confusion_matrix"][0]) > 5  # the test split is whole
