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

TAGS = {"train/loss": {}, "val/loss": {}}


def serve(monkeypatch, replies: dict) -> None:
    monkeypatch.setattr(check, "get", lambda base, path, body=None: replies[path.split("?")[0]])


def layout(*charts: list[str]) -> dict:
    return {
        "category": [
            {"title": "c", "chart": [{"title": "t", "multiline": {"tag": c}}]} for c in charts
        ]
    }


def test_train_and_val_loss_must_share_a_chart(monkeypatch):
    serve(monkeypatch, {"/data/plugin/custom_scalars/layout": layout(["^(train|val)/loss$"])})
    report, fails = check.check_layout("", {"r": TAGS}, ["r"])
    assert not fails and "train/loss and val/loss" in report[0]
    serve(monkeypatch, {"/data/plugin/custom_scalars/layout": layout(["^train/loss$"], ["^val/"])})
    _, fails = check.check_layout("", {"r": TAGS}, ["r"])
    assert fails == ["run r: no CUSTOM SCALARS chart draws train/loss and val/loss together"]
    serve(monkeypatch, {"/data/plugin/custom_scalars/layout": {}})  # no layout at all
    assert check.check_layout("", {"r": TAGS}, ["r"])[1]


def experiment(names: list[str], metrics: list[str]) -> dict:
    return {
        "hparamInfos": [{"name": n} for n in names],
        "metricInfos": [{"name": {"tag": m}} for m in metrics],
    }


@pytest.mark.parametrize(
    ("names", "metrics", "failure"),
    [
        (["optim.lr", "optim.name", "a", "b", "c", "d"], ["test/x", "val_final/x"], None),
        (["a", "b", "c", "d", "e", "optim.name"], ["test/x", "val_final/x"], "hides the swept"),
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


def test_a_sweep_folders_own_event_file_is_no_run(tmp_path):
    for folder in (tmp_path, tmp_path / "0_optim=adam", tmp_path / "1_optim=sgd"):
        folder.mkdir(exist_ok=True)
        (folder / "events.out.tfevents.1.host.1.0").write_bytes(b"")
    assert check.event_runs(tmp_path) == {"0_optim=adam", "1_optim=sgd"}
    assert check.event_runs(tmp_path / "0_optim=adam") == {"."}


@pytest.mark.parametrize(
    ("groups", "failure"),
    [
        (["baseline", "grad_norm", "lr", "train", "val"], None),
        (["epoch", "train", "val"], "leads with the counter epoch"),
        (["baseline", "epoch", "train"], "a group for the counter epoch"),
    ],
)
def test_time_series_must_not_lead_with_a_counter(groups, failure):
    report, fails = check.check_groups(groups)
    assert report == [f"page opens  {groups[0]}, {groups[1]} (its first two groups)"]
    assert (failure is None and not fails) or (failure and failure in fails[0])


def test_every_checked_scalar_needs_a_description(monkeypatch):
    tags = {"train/loss": {"description": "<p>loss ...</p>"}, "val/loss": {"description": ""}}
    serve(
        monkeypatch,
        {
            "/data/runs": ["r"],
            "/data/plugins_listing": {
                "scalars": {"enabled": True},
                "timeseries": {"enabled": True},
            },
            "/data/plugin/scalars/tags": {"r": tags},
            "/data/plugin/scalars/scalars": [[0.0, 1, 1.0]],
            "/data/plugin/custom_scalars/layout": layout(["^(train|val)/loss$"]),
        },
    )
    _, fails, _ = check.check_api("", {"r"}, ("train/loss", "val/loss"), False, [])
    assert len(fails) == 1 and "run r: no description on val/loss" in fails[0]


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
