"""scripts/dashboard_check.py's checks of what TensorBoard serves, on canned replies of
its data API (the whole check, with a sweep and a browser, is `make dashboard-check`)."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import ROOT

spec = importlib.util.spec_from_file_location(
    "dashboard_check", ROOT / "scripts/dashboard_check.py"
)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

CURVE = {"Learning curves/loss": {}}  # train/loss, val/loss: one tag in two sub-runs
TAGS = {"r/train": CURVE, "r/val": CURVE}


def serve(monkeypatch, replies: dict) -> None:
    monkeypatch.setattr(check, "get", lambda base, path, body=None: replies[path.split("?")[0]])


def layout(*charts: list[str]) -> dict:
    return {
        "category": [
            {"title": "c", "chart": [{"title": "t", "multiline": {"tag": c}}]} for c in charts
        ]
    }


def test_train_and_val_loss_must_share_a_chart(monkeypatch):
    chart = ["^(Learning curves|test)/loss$"]
    serve(monkeypatch, {"/data/plugin/custom_scalars/layout": layout(chart)})
    report, fails = check.check_layout("", TAGS, ["r"])
    assert not fails and "train/loss and val/loss" in report[0]
    serve(monkeypatch, {"/data/plugin/custom_scalars/layout": layout(["^test/"], ["^lr$"])})
    _, fails = check.check_layout("", TAGS, ["r"])
    assert fails == ["run r: no CUSTOM SCALARS chart draws train/loss and val/loss together"]
    serve(monkeypatch, {"/data/plugin/custom_scalars/layout": {}})  # no layout at all
    assert check.check_layout("", TAGS, ["r"])[1]


def test_curves_are_looked_for_in_the_runs_sub_runs():
    wanted = check.where(("train/loss", "val/loss", "lr", "train/loss_step"), {"r"})
    assert wanted == {
        "r": {"lr": "lr", "train/loss_step": "train/loss_step"},
        "r/train": {"Learning curves/loss": "train/loss"},
        "r/val": {"Learning curves/loss": "val/loss"},
    }
    assert set(check.where(("val/loss",), {"."})) == {"val"}  # the logdir is the run


@pytest.mark.parametrize(
    ("cards", "failure"),
    [
        ([("lr", 1), ("Learning curves/loss", 4)], None),
        ([("Learning curves/loss", 2)], "draws 2 lines, not train and val of 2 runs"),
        ([("lr", 1)], "no card Learning curves/loss"),
    ],
)
def test_the_landing_page_draws_train_and_val_on_one_card(cards, failure):
    _, fails = check.check_pair_card(cards, runs=2)
    assert (failure is None and not fails) or (failure and failure in fails[0])


def experiment(names: list[str], metrics: list[str]) -> dict:
    """An experiment whose keys named optim.* differ between runs."""
    return {
        "hparamInfos": [{"name": n, "differs": n.startswith("optim.")} for n in names],
        "metricInfos": [{"name": {"tag": m}} for m in metrics],
    }


@pytest.mark.parametrize(
    ("names", "metrics", "failure"),
    [
        (["optim.lr", "optim.name"], ["test/x", "val_final/x"], None),
        (["a", "b", "c", "d", "e", "optim.name"], ["test/x", "val_final/x"], "hides the swept"),
        (["optim.name", "optim.lr", "a"], ["test/x", "val_final/x"], "shows a, the same"),
        (["optim.name"], ["test/x"], "no validation metric"),
    ],
)
def test_hparams_shows_the_swept_key_and_val_metrics(monkeypatch, names, metrics, failure):
    serve(
        monkeypatch,
        {
            "/data/plugins_listing": {"hparams": {"enabled": True}},
            "/data/plugin/hparams/experiment": experiment(names, metrics),
        },
    )
    _, fails = check.check_hparams("", {"0", "1"}, ["optim.name"], need=True)
    assert (failure is None and not fails) or (failure and failure in " ".join(fails))


def test_a_sweep_folders_own_event_file_and_the_curve_sub_runs_are_no_runs(tmp_path):
    runs = (tmp_path / "0_optim=adam", tmp_path / "1_optim=sgd")
    for folder in (tmp_path, *runs, *(r / s for r in runs for s in ("train", "val"))):
        folder.mkdir(exist_ok=True)
        (folder / "events.out.tfevents.1.host.1.0").write_bytes(b"")
    assert check.event_runs(tmp_path) == {"0_optim=adam", "1_optim=sgd"}
    assert check.event_runs(tmp_path / "0_optim=adam") == {"."}


@pytest.mark.parametrize(
    ("groups", "failure"),
    [
        (["Learning curves", "baseline", "grad_norm", "lr", "train"], None),
        (["epoch", "train", "val"], "leads with the counter epoch"),
        (["Learning curves", "epoch", "train"], "a group for the counter epoch"),
        (["baseline", "grad_norm", "Learning curves"], "opens baseline first"),
    ],
)
def test_time_series_opens_the_learning_curves_first_and_no_counter(groups, failure):
    report, fails = check.check_groups(groups)
    assert report == [f"page opens  {groups[0]}, {groups[1]} (its first two groups)"]
    assert (failure is None and not fails) or (failure and failure in fails[0])


def test_every_checked_scalar_needs_a_description(monkeypatch):
    tags = {
        "r/train": {"Learning curves/loss": {"description": "<p>loss ...</p>"}},
        "r/val": {"Learning curves/loss": {"description": ""}},
    }
    serve(
        monkeypatch,
        {
            "/data/runs": ["r", "r/train", "r/val"],
            "/data/plugins_listing": {
                "scalars": {"enabled": True},
                "timeseries": {"enabled": True},
            },
            "/data/plugin/scalars/tags": tags,
            "/data/plugin/scalars/scalars": [[0.0, 1, 1.0]],
            "/data/plugin/custom_scalars/layout": layout(["^Learning curves/loss$"]),
        },
    )
    _, fails, _ = check.check_api("", {"r"}, ("train/loss", "val/loss"), False, [])
    assert len(fails) == 1 and "run r/val: no description on Learning curves/loss" in fails[0]


def test_pictures_need_their_image_and_a_description_that_explains_it(monkeypatch, tmp_path):
    images = {
        "transformer": {
            "attention/test_sample_0": {"description": "<p>the axes name the tokens</p>"}
        },
        "vae": {"latent_space": {"description": "<p>a colour per class</p>"}},
    }
    serve(monkeypatch, {"/data/plugin/images/tags": images})
    monkeypatch.setattr(check, "save_image", lambda base, run, tag, path: 1)
    report, fails = check.check_pictures("", tmp_path)
    assert fails == ["run vae, image latent_space: its description does not mention 'legend'"]
    assert "the axes name the tokens" in report[0]
    images["vae"] = {}
    monkeypatch.setattr(check, "TAG_GRACE_S", 0.0)
    _, fails = check.check_pictures("", tmp_path)
    assert fails == ["run vae logged no image latent_space"]
