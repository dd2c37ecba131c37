"""engine.resuming: a resume continues the run as it was configured, changed only where
the resume call says so explicitly, in keys that may change."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import compose_cfg
from omegaconf import OmegaConf

from engine.errors import ConfigError
from engine.resuming import describe, explicit_keys, record, resumed_config

WHERE = Path("runs/a/checkpoints/last.pt")


def saved_run(*overrides: str) -> dict:
    return OmegaConf.to_container(compose_cfg(*overrides), resolve=True)


def test_the_defaults_of_the_resume_call_play_no_part():
    saved = saved_run("trainer.max_epochs=6", "optim=sgd", "seed=3")
    call = compose_cfg("resume=true")  # the default 60 epochs, adam, seed 0
    cfg, changes = resumed_config(saved, call, explicit_keys(["resume=true"]), WHERE)
    assert cfg.trainer.max_epochs == 6 and cfg.optim.name == "sgd" and cfg.seed == 3
    assert cfg.resume is True and changes == {}
    assert describe(changes) == "resuming with the run's own config (no changes)"


def test_an_explicit_change_of_an_allowed_key_is_applied_and_described():
    saved = saved_run("trainer.max_epochs=6")
    args = ["resume=true", "trainer.max_epochs=9", "device=cpu"]
    cfg, changes = resumed_config(saved, compose_cfg(*args), explicit_keys(args), WHERE)
    assert cfg.trainer.max_epochs == 9 and cfg.device == "cpu"
    assert changes == {"device": ("auto", "cpu"), "trainer.max_epochs": (6, 9)}
    assert describe(changes) == (
        "resuming with the run's own config, changed: device='cpu' (was 'auto'), "
        "trainer.max_epochs=9 (was 6)"
    )


def test_repeating_the_runs_own_overrides_is_no_change():
    args = ["optim=sgd", "trainer.max_epochs=6"]
    call = [*args, "resume=true"]
    _, changes = resumed_config(saved_run(*args), compose_cfg(*call), explicit_keys(call), WHERE)
    assert changes == {}


@pytest.mark.parametrize(
    ("args", "shown"),
    [(["seed=1"], "seed=0->1"), (["optim=sgd"], "optim='adam'->'sgd'")],
    ids=["key", "group"],
)
def test_changing_what_the_run_was_trained_with_is_refused_in_one_line(args, shown):
    call = [*args, "resume=true"]
    with pytest.raises(ConfigError) as e:
        resumed_config(saved_run(), compose_cfg(*call), explicit_keys(call), WHERE)
    message = str(e.value)
    assert shown in message and "runs/a" in message and "trainer.max_epochs" in message
    assert "\n" not in message


def test_from_python_every_key_of_the_config_counts():
    saved = saved_run("trainer.max_epochs=6")
    cfg, changes = resumed_config(saved, compose_cfg("trainer.max_epochs=8"), None, WHERE)
    assert cfg.trainer.max_epochs == 8 and changes == {"trainer.max_epochs": (6, 8)}
    with pytest.raises(ConfigError, match="seed=0->2"):
        resumed_config(saved, compose_cfg("trainer.max_epochs=6", "seed=2"), None, WHERE)


def test_each_resume_is_recorded_beside_the_config(tmp_path):
    record({}, tmp_path, 2, 40)
    record({"trainer.max_epochs": (6, 9)}, tmp_path, 6, 120)
    entries = yaml.safe_load((tmp_path / ".hydra" / "resumes.yaml").read_text())
    assert entries == [
        {"after_epoch": 2, "after_step": 40, "changed": {}},
        {
            "after_epoch": 6,
            "after_step": 120,
            "changed": {"trainer.max_epochs": {"was": 6, "now": 9}},
        },
    ]
