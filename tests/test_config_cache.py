"""tests/config_cache.py: compositions that share loaded files, and compositions in two
steps (choices, then values), equal Hydra's own."""

from __future__ import annotations

import pytest
from config_cache import set_values, share_loaded_configs, split_choices
from conftest import GROUPS
from hydra import compose, initialize_config_dir
from hydra._internal import config_loader_impl, config_repository
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from engine.cli import compose_config

# Each experiment overrides keys of its model's file; the bare model composed after it
# must not see them (a cache that handed out the loaded nodes themselves would).
AFTER_EACH_OTHER = [
    ["experiment=adding_lstm"],
    ["model=lstm"],
    ["experiment=diabetes_mlp"],
    ["data=diabetes", "task=regression", "loss=mse"],
    ["experiment=gan_ring"],
    ["model=gan", "task=adversarial", "loss=gan", "data=ring"],
]


@pytest.fixture
def hydra_reads_every_file(monkeypatch):
    """Hydra's own per-composition cache, in place of the session's shared one."""
    monkeypatch.setattr(
        config_loader_impl, "CachingConfigRepository", config_repository.CachingConfigRepository
    )


def composed(overrides: list[str]) -> str:
    return OmegaConf.to_yaml(compose_config(overrides))


def test_shared_files_compose_what_hydra_composes(hydra_reads_every_file):
    plain = [composed(o) for o in AFTER_EACH_OTHER]
    with share_loaded_configs():
        for _ in range(2):  # the second round reads every file from the cache
            assert [composed(o) for o in AFTER_EACH_OTHER] == plain


def test_a_changed_file_is_read_again(tmp_path, hydra_reads_every_file):
    config = tmp_path / "train.yaml"
    with share_loaded_configs(), initialize_config_dir(str(tmp_path), version_base="1.3"):
        for value in (1, 22, 333):  # a new size: a new stamp even within one clock tick
            config.write_text(f"a: {value}\n")
            assert compose("train").a == value


# Choices and values mixed as tests and users write them: each composed in two steps
# (the choices, then the values set on a copy) must equal Hydra's one composition.
MIXED = [
    ["trainer.max_epochs=3", "model=cnn", "model.widths=[4,8]", "logger=none"],
    ["model.dropout=0.5", "model=mlp"],  # a value before the choice of its group
    ["+extra.key=1", "model=lstm", "++trainer.max_epochs=2", "~model.dropout"],
    ["experiment=adding_lstm", "model.hidden_size=8", "seed=3"],
    ["model=gan", "task=adversarial", "loss=gan", "data=ring", "optim_d=sgd", "optim_d.lr=0.5"],
    ["data=digits", "data.classes=[5,6,7]", "trainer.max_epochs=${seed}"],
    ["optim.lr=1e-2", "sched=cosine", "+sched.extra={a: 3, b: [1, 2]}"],
    # a dict given to a group sets values (Hydra: is_dict or not is_group), in order
    ["trainer.max_epochs=5", "trainer={max_epochs: 1}"],
    ["model.hidden_size=8", "model={hidden_size: 16}"],
]


@pytest.mark.parametrize("overrides", MIXED, ids=[" ".join(o) for o in MIXED])
def test_choices_then_values_compose_what_hydra_composes(overrides, hydra_reads_every_file):
    split = split_choices(overrides, GROUPS)
    assert split is not None
    choices, values = split
    assert len(choices) + len(values) == len(overrides)
    once = compose_config(overrides)
    twice = set_values(compose_config(choices), values)
    assert OmegaConf.to_yaml(twice) == OmegaConf.to_yaml(once)
    assert OmegaConf.is_struct(twice) and OmegaConf.is_struct(once)


def test_a_bad_value_fails_as_in_one_composition(hydra_reads_every_file):
    overrides = ["model=cnn", "model.nope=1"]
    with pytest.raises(ConfigCompositionException) as once:
        compose_config(overrides)
    choices, values = split_choices(overrides, GROUPS)
    with pytest.raises(ConfigCompositionException) as twice:
        set_values(compose_config(choices), values)
    assert str(twice.value) == str(once.value)


@pytest.mark.parametrize(
    "overrides", [["seed=1,2"], ["model@x=cnn"], ["hydra.run.dir=out"], ["hydra/launcher=basic"]]
)
def test_a_sweep_package_or_hydra_key_is_not_split(overrides):
    assert split_choices(overrides, GROUPS) is None
